"""Cancel or reschedule through the signed link in the confirmation email, without signing in."""

import datetime as dt
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
from sessions.booking.forms import CancelForm, RescheduleForm
from sessions.booking.links import manage_token_appointment_uuid
from sessions.booking.selectors import SlotState, appointment_by_uuid, slot_state
from sessions.booking.services import (
    TAKEN,
    BookingError,
    SlotNotOffered,
    SlotUnavailable,
    appointment_cancel,
    appointment_reschedule,
    change_deadline,
    client_may_change,
    not_offered_message,
)
from sessions.booking.views.slot_week import slot_week
from sessions.models import Appointment


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
    appointment = appointment_by_uuid(appointment_uuid)
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


def _new_time_problem(appointment: Appointment, start: dt.datetime) -> tuple[str, int] | None:
    """Why ``start`` cannot be offered as the appointment's new time, with the status to answer,
    or None when it can."""
    if start == appointment.starts_at:
        return "This is already your appointment's time. Pick another time below.", 400
    state = slot_state(
        service=appointment.service,
        clinician=appointment.clinician,
        starts_at=start,
        now=timezone.now(),
        exclude_appointment_id=appointment.pk,
    )
    if state is SlotState.TAKEN:
        return TAKEN, 409
    if state is SlotState.NOT_OFFERED:
        return not_offered_message(appointment.service, appointment.clinician), 400
    return None


@require_http_methods(["GET", "POST"])
def reschedule(request: HttpRequest, token: str) -> HttpResponse:
    """Pick a new time (a link per time, ``?start=``), see the old and the new time side by side,
    then confirm (POST with ``confirm=yes``): nothing moves on a single click."""
    try:
        appointment = _appointment(token)
    except LinkProblem as problem:
        return _problem(request, problem)
    error = ""
    status = 200
    confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
    if not confirmed and not client_may_change(appointment, now=timezone.now()):
        messages.error(request, "This appointment can no longer be changed online.")
        return redirect("sessions:manage", token=token)
    chosen = request.POST if request.method == "POST" else request.GET
    if "start" in chosen:
        form = RescheduleForm(chosen, service=appointment.service)
        if not form.is_valid():
            error, status = form.start_problem(), 400
        elif confirmed:
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
        elif problem := _new_time_problem(appointment, form.cleaned_data["start"]):
            error, status = problem
        else:
            return _render(
                request,
                "sessions/manage_reschedule_confirm.html",
                appointment,
                new_start=form.cleaned_data["start"],
                new_start_value=chosen["start"],
            )
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
