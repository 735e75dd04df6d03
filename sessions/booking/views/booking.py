"""Online booking: service → clinician → day and time → details, intake and consent → done."""

import datetime as dt
import zoneinfo
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from clinic.audit import RequestContext
from clinic.forms import time_zone_choices
from clinic.models import Clinician, DominantLeg
from clinic.selectors import client_signed_in
from clinic.services import StaffEmailError
from sessions.booking.forms import BookingDetailsForm, slot_start_clean
from sessions.booking.selectors import (
    SlotState,
    appointment_get_just_booked,
    booking_consents,
    clinicians_for_service,
    service_get_bookable,
    services_bookable,
    slot_state,
)
from sessions.booking.services import (
    TAKEN,
    BookingRequest,
    SlotNotOffered,
    SlotUnavailable,
    booking_submit,
    not_offered_message,
)
from sessions.booking.views.slot_week import slot_week
from sessions.models import Service

BOOKED_SESSION_KEY = "booked_appointments"


def _service(service_uuid: UUID) -> Service:
    return service_get_bookable(service_uuid)


def _clinicians(service: Service, who: str) -> tuple[list[Clinician], Clinician | None]:
    """The clinicians to offer for ``who`` ("any" or a clinician's UUID), and the one chosen."""
    offered = clinicians_for_service(service)
    if who == "any":
        if not offered:
            raise Http404("Nobody offers this service at the moment")
        return offered, None
    try:
        wanted = UUID(who)
    except ValueError:
        raise Http404("No such clinician") from None
    for clinician in offered:
        if clinician.uuid == wanted:
            return [clinician], clinician
    raise Http404("No such clinician")


@require_GET
def services(request: HttpRequest) -> HttpResponse:
    return render(request, "sessions/book_services.html", {"services": services_bookable()})


@require_GET
def clinicians(request: HttpRequest, service_uuid: UUID) -> HttpResponse:
    service = _service(service_uuid)
    return render(
        request,
        "sessions/book_clinicians.html",
        {"service": service, "clinicians": clinicians_for_service(service)},
    )


@require_GET
def slots(request: HttpRequest, service_uuid: UUID, who: str) -> HttpResponse:
    service = _service(service_uuid)
    offered, chosen = _clinicians(service, who)
    week = slot_week(request, service=service, clinicians=offered)
    context = {
        "service": service,
        "chosen": chosen,
        "who": who,
        "week": week,
        "week_url": reverse("sessions:book_slots", args=[service.uuid, who]),
        "details_url": reverse("sessions:book_details", args=[service.uuid]),
    }
    if request.headers.get("HX-Request"):
        template = "sessions/_slot_week.html"
    else:
        template = "sessions/book_slots.html"
        context["time_zones"] = time_zone_choices()
    return render(request, template, context, status=400 if week.error else 200)


def _initial(request: HttpRequest, start: str) -> dict[str, object]:
    initial: dict[str, object] = {"start": start, "time_zone": request.viewer_time_zone}
    client = client_signed_in(request.user)
    if client is not None:
        initial.update(
            full_name=client.user.full_name,
            email=client.user.email,
            phone=client.phone,
            date_of_birth=client.date_of_birth,
            time_zone=client.user.time_zone,
            # "Not sure" is also the record's default when nobody asked: not an answer to show.
            dominant_leg=(
                client.dominant_leg if client.dominant_leg != DominantLeg.UNSURE else None
            ),
            emergency_contact_name=client.emergency_contact_name,
            emergency_contact_phone=client.emergency_contact_phone,
        )
    return initial


@require_http_methods(["GET", "POST"])
def details(request: HttpRequest, service_uuid: UUID) -> HttpResponse:
    service = _service(service_uuid)
    _, clinician = _clinicians(service, request.GET.get("clinician", ""))
    if clinician is None:
        raise Http404("No such clinician")
    consents = booking_consents()
    context: dict[str, object] = {
        "service": service,
        "clinician": clinician,
        "consent_telehealth": consents.telehealth,
        "consent_images": consents.images,
        "signed_in_client": client_signed_in(request.user),
        "slots_url": reverse("sessions:book_slots", args=[service.uuid, clinician.uuid]),
    }
    if consents.booking_paused:
        message = "Online booking is paused while the clinic updates its consent form."
        return render(
            request, "sessions/book_error.html", {**context, "message": message}, status=503
        )

    if request.method == "GET":
        raw_start = request.GET.get("start", "")
        try:
            start = slot_start_clean(
                raw_start,
                service=service,
                now=timezone.now(),
                malformed="That link does not name a time we can book. "
                "Please pick a time from the list.",
            )
        except ValidationError as problem:
            return render(
                request,
                "sessions/book_error.html",
                {**context, "message": " ".join(problem.messages)},
                status=400,
            )
        state = slot_state(
            service=service, clinician=clinician, starts_at=start, now=timezone.now()
        )
        if state is not SlotState.FREE:
            # A time that was on the list but is gone is a conflict; one that was never on it
            # (a hand-made or mangled link) is a bad request. Both get the free times.
            message, status = (
                (TAKEN, 409)
                if state is SlotState.TAKEN
                else (not_offered_message(service, clinician), 400)
            )
            context["alternatives"] = _alternatives(request, service, clinician, start)
            return render(
                request, "sessions/book_error.html", {**context, "message": message}, status=status
            )
        form = BookingDetailsForm(initial=_initial(request, raw_start), service=service)
        return render(
            request, "sessions/book_details.html", {**context, "form": form, "start": start}
        )

    form = BookingDetailsForm(request.POST, service=service)
    status = 400
    if form.is_valid():
        booking = BookingRequest(
            service=service,
            clinician=clinician,
            starts_at=form.cleaned_data["start"],
            email=form.cleaned_data["email"],
            full_name=form.cleaned_data["full_name"],
            time_zone=form.cleaned_data["time_zone"],
            details=form.details(),
            intake=form.intake(),
            consents=consents.accepted(images=form.cleaned_data["consent_images"]),
        )
        try:
            appointment = booking_submit(
                request=booking,
                actor=request.user if request.user.is_authenticated else None,
                context=RequestContext.from_request(request),
            )
        except StaffEmailError:
            form.add_error(
                "email",
                "This email belongs to a clinic staff account. "
                "Please book with your personal email.",
            )
        except (SlotUnavailable, SlotNotOffered) as error:
            status = error.status
            context["time_problem"] = error.message
            context["alternatives"] = _alternatives(
                request, service, clinician, form.cleaned_data["start"]
            )
        else:
            request.session[BOOKED_SESSION_KEY] = [
                *request.session.get(BOOKED_SESSION_KEY, [])[-9:],
                str(appointment.uuid),
            ]
            return redirect("sessions:book_confirmed", appointment_uuid=appointment.uuid)
    context.update(form=form, start=form.cleaned_data.get("start"))
    return render(request, "sessions/book_details.html", context, status=status)


def _alternatives(
    request: HttpRequest, service: Service, clinician: Clinician, around: dt.datetime
) -> list:
    """Free times with the same clinician from the day that was wanted onwards."""
    zone = zoneinfo.ZoneInfo(request.viewer_time_zone)
    week = slot_week(
        request,
        service=service,
        clinicians=[clinician],
        first_day=around.astimezone(zone).date(),
    )
    return [(day, choices) for day, choices in week.days if choices][:3]


@require_GET
def confirmed(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    appointment = appointment_get_just_booked(
        booked=request.session.get(BOOKED_SESSION_KEY, []), appointment_uuid=appointment_uuid
    )
    zone = zoneinfo.ZoneInfo(appointment.client.user.time_zone)
    with timezone.override(zone):
        return render(
            request,
            "sessions/book_confirmed.html",
            {"appointment": appointment, "intake": appointment.intake, "time_zone": zone.key},
        )
