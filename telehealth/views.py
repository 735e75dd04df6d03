"""Site-wide pages that belong to no single app."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from clinic.sign_in import safe_next_path


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    # Admins sign in through the same rate-limited form as clinicians.
    next_path = safe_next_path(request.GET.get("next")) or reverse("admin:index")
    return redirect(f"{reverse('clinic:login')}?{urlencode({'next': next_path})}")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
