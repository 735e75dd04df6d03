"""Site-wide pages that belong to no single app."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from clinic.sign_in import safe_next_path
from telehealth.beat import beat_entry_states
from telehealth.health import readiness_problems


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
def healthz_live(request: HttpRequest) -> HttpResponse:
    """Liveness, for restarts: the process answers. Nothing else is looked at, so a database
    or Redis outage does not get every web process restarted."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def healthz_ready(request: HttpRequest) -> HttpResponse:
    """Readiness, for routing: 503 with what is wrong, one line each, while the database or
    Redis does not answer or migrations are not applied."""
    problems = readiness_problems()
    if not problems:
        return HttpResponse("ok\n", content_type="text/plain")
    response = HttpResponse(
        "not ready\n" + "\n".join(problems) + "\n", content_type="text/plain", status=503
    )
    response["Retry-After"] = str(settings.BUSY_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def healthz_beat(request: HttpRequest) -> HttpResponse:
    """For monitoring: 503 when Celery beat has stopped sending an entry of its schedule (it
    died, or cannot reach the broker), so that reminders do not stop unnoticed."""
    states = beat_entry_states()
    late = [state.name for state in states if state.late]
    lines = [f"late: {', '.join(late)}" if late else "ok"]
    for state in states:
        sent = state.last_sent.isoformat() if state.last_sent else "never"
        every = int(state.every.total_seconds())
        lines.append(f"{state.name}: last sent {sent} (every {every} s)")
    return HttpResponse(
        "\n".join(lines) + "\n", content_type="text/plain", status=503 if late else 200
    )


@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    # Admins sign in through the same rate-limited form as clinicians.
    next_path = safe_next_path(request.GET.get("next")) or reverse("admin:index")
    return redirect(f"{reverse('clinic:login')}?{urlencode({'next': next_path})}")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)
