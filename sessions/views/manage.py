"""Cancel or reschedule through the signed link in the confirmation email, without signing in."""

import zoneinfo
from uuid import UUID

from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from clinic.audit import RequestContext
from sessions.forms import CancelForm, RescheduleForm
from sessions.links import manage_token_appointment_uuid
from sessions.models import Appointment
from sessions.services import (
    BookingError,
    SlotNotOffered,
    SlotUnavailable,
    appointment_cancel,
    appointment_reschedule,
    change_deadline,
    client_may_change,
)
from sessions.views.slot_week import slot_week


class LinkProblem(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _appointment(token: str) -> Appointment:
    try:
        appointment_uuid = UUID(manage_token_appointment_uuid(token))
    except (signing.BadSignature, ValueError):
        raise LinkProblem(
            "This link is not valid. Please use the link from your most recent email.", 400
        ) from None
    appointment = (
        Appointment.objects.select_related("service", "clinician__user", "client__user")
        .filter(uuid=appointment_uuid)
        .first()
    )
    if appointment is None:
        raise LinkProblem("We could not find this appointment.", 404)
    if appointment.ends_at <= timezone.now():
        raise LinkProblem("This appointment has already taken place.", 410)
    return appointment


def _render(
    request: HttpRequest,
    template: str,
    appointment: Appointment,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    # The person holding the link is the client: show times on their clock unless the page
    # was opened with an explicit zone.
    zone = zoneinfo.ZoneInfo(
        request.viewer_time_zone if "tz" in request.GET else appointment.client.user.time_zone
    )
    context = {
        "appointment": appointment,
        "time_zone": zone.key,
        "may_change": client_may_change(appointment, now=timezone.now()),
        "change_deadline": change_deadline(appointment),
        "token": request.resolver_match.kwargs["token"],
        **extra,
    }
    with timezone.override(zone):
        return render(request, template, context, status=status)


def _problem(request: HttpRequest, problem: LinkProblem) -> HttpResponse:
    return render(
        request,
        "sessions/manage_problem.html",
        {"message": problem.message, "book_url": reverse("sessions:services")},
        status=problem.status,
    )


@require_http_methods(["GET"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        appointment = _appointment(token)
    except LinkProblem as problem:
        return _problem(request, problem)
    return _render(request, "sessions/manage.html", appointment)


@require_http_methods(["GET", "POST"])
def reschedule(request: HttpRequest, token: str) -> HttpResponse:
    try:
        appointment = _appointment(token)
    except LinkProblem as problem:
        return _problem(request, problem)
    error = ""
    status = 200
    if request.method == "POST":
        form = RescheduleForm(request.POST, service=appointment.service)
        if not form.is_valid():
            error, status = form.start_problem(), 400
        else:
            try:
                appointment_reschedule(
                    appointment=appointment,
                    starts_at=form.cleaned_data["start"],
                    actor=appointment.client.user,
                    by_client=True,
                    context=RequestContext.from_request(request),
                )
            except (SlotUnavailable, SlotNotOffered) as problem:
                error, status = problem.message, problem.status
            except BookingError as problem:
                messages.error(request, problem.message)
                return redirect("sessions:manage", token=token)
            else:
                messages.success(
                    request, "Your appointment has been moved. We have emailed you the new time."
                )
                return redirect("sessions:manage", token=token)
    if not client_may_change(appointment, now=timezone.now()):
        messages.error(request, "This appointment can no longer be changed online.")
        return redirect("sessions:manage", token=token)
    week = slot_week(
        request,
        service=appointment.service,
        clinicians=[appointment.clinician],
        exclude_appointment_id=appointment.pk,
    )
    template = (
        "sessions/_slot_week.html"
        if request.headers.get("HX-Request") and request.method == "GET"
        else "sessions/manage_reschedule.html"
    )
    return _render(
        request,
        template,
        appointment,
        status=400 if week.error and status == 200 else status,
        week=week,
        error=error,
        choose_with_buttons=True,
        week_url=reverse("sessions:manage_reschedule", args=[token]),
    )


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        appointment = _appointment(token)
    except LinkProblem as problem:
        return _problem(request, problem)
    if request.method == "GET" and not client_may_change(appointment, now=timezone.now()):
        messages.error(request, "This appointment can no longer be cancelled online.")
        return redirect("sessions:manage", token=token)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            appointment_cancel(
                appointment=appointment,
                actor=appointment.client.user,
                by_client=True,
                reason=form.cleaned_data["reason"],
                context=RequestContext.from_request(request),
            )
        except BookingError as problem:
            messages.error(request, problem.message)
        else:
            messages.success(
                request, "Your appointment is cancelled. We have emailed you a confirmation."
            )
        return redirect("sessions:manage", token=token)
    status = 400 if request.method == "POST" else 200
    return _render(request, "sessions/manage_cancel.html", appointment, status=status, form=form)
