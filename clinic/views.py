"""Signing in and out."""

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit import RequestContext
from clinic.forms import SignInLinkRequestForm, StaffSignInForm
from clinic.models import Role, User
from clinic.pages import page_url
from clinic.sign_in import (
    SignInError,
    safe_next_path,
    sign_in_link_check,
    sign_in_link_redeem,
    sign_in_link_request,
    staff_authenticate,
)


def _home_for(user: User) -> str:
    if user.role == Role.CLIENT:
        return page_url("client_home")
    return page_url("clinician_home")


def _login_page(
    request: HttpRequest,
    *,
    link_form: SignInLinkRequestForm | None = None,
    staff_form: StaffSignInForm | None = None,
    status: int = 200,
) -> HttpResponse:
    next_path = safe_next_path(request.POST.get("next") or request.GET.get("next"))
    return render(
        request,
        "clinic/login.html",
        {
            "link_form": link_form or SignInLinkRequestForm(),
            "staff_form": staff_form or StaffSignInForm(),
            "next": next_path,
        },
        status=status,
    )


@require_GET
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(safe_next_path(request.GET.get("next")) or _home_for(request.user))
    return _login_page(request)


@require_POST
def sign_in_link_request_view(request: HttpRequest) -> HttpResponse:
    form = SignInLinkRequestForm(request.POST)
    if not form.is_valid():
        return _login_page(request, link_form=form, status=400)
    try:
        sign_in_link_request(
            email=form.cleaned_data["email"],
            next_path=request.POST.get("next", ""),
            context=RequestContext.from_request(request),
        )
    except SignInError as error:
        # A problem with the submit as a whole: in the page's error summary, like the fields'.
        form.add_error(None, error.message)
        return _login_page(request, link_form=form, status=error.status)
    return render(request, "clinic/sign_in_link_sent.html", {"email": form.cleaned_data["email"]})


@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    # Opening the link only shows a button: mail scanners that follow links must not use up
    # a single-use link before the client clicks it.
    try:
        if request.method == "GET":
            link = sign_in_link_check(token)
            return render(request, "clinic/sign_in_link_confirm.html", {"link_user": link.user})
        link = sign_in_link_redeem(token, context=RequestContext.from_request(request))
    except SignInError as error:
        return render(
            request,
            "clinic/sign_in_link_error.html",
            {"message": error.message, "link_form": SignInLinkRequestForm()},
            status=error.status,
        )
    login(request, link.user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(link.next_path or _home_for(link.user))


@require_POST
def staff_sign_in(request: HttpRequest) -> HttpResponse:
    form = StaffSignInForm(request.POST)
    if not form.is_valid():
        return _login_page(request, staff_form=form, status=400)
    try:
        user = staff_authenticate(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            request=request,
            context=RequestContext.from_request(request),
        )
    except SignInError as error:
        form.add_error(None, error.message)
        return _login_page(request, staff_form=form, status=error.status)
    login(request, user)
    return redirect(safe_next_path(request.POST.get("next")) or _home_for(user))


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")
