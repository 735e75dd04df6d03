"""The clinician sets their weekly hours, time off and extra hours, on their own clock."""

import zoneinfo
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.models import Clinician, Role
from clinic.permissions import role_required
from clinic.selectors import clinician_for_user
from sessions.booking.availability import (
    AvailabilityError,
    appointments_during,
    availability_for,
    availability_remove,
    period_add,
    weekly_hours_add,
)
from sessions.booking.forms import PeriodForm, WeeklyHoursForm
from sessions.models import ExtraHours, TimeOff, WeeklyHours

KINDS = {"hours": WeeklyHours, "time-off": TimeOff, "extra": ExtraHours}


def _clinician(request: HttpRequest) -> Clinician:
    clinician = clinician_for_user(request.user)
    if clinician is None:
        raise Http404("Only clinicians have working hours")
    return clinician


def _page(
    request: HttpRequest, clinician: Clinician, status: int = 200, **forms: object
) -> HttpResponse:
    zone = zoneinfo.ZoneInfo(clinician.time_zone)
    context = {
        "availability": availability_for(clinician, now=timezone.now()),
        "hours_form": forms.get("hours_form") or WeeklyHoursForm(),
        "time_off_form": forms.get("time_off_form") or PeriodForm(zone=zone, prefix="time-off"),
        "extra_form": forms.get("extra_form") or PeriodForm(zone=zone, prefix="extra"),
        "time_zone": zone.key,
    }
    with timezone.override(zone):
        return render(request, "sessions/availability.html", context, status=status)


clinician_only = role_required(Role.CLINICIAN)


@require_GET
@clinician_only
def availability(request: HttpRequest) -> HttpResponse:
    return _page(request, _clinician(request))


@require_POST
@clinician_only
def hours_add(request: HttpRequest) -> HttpResponse:
    clinician = _clinician(request)
    form = WeeklyHoursForm(request.POST)
    if form.is_valid():
        try:
            weekly_hours_add(clinician=clinician, **form.cleaned_data)
        except AvailabilityError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Weekly hours added.")
            return redirect("sessions:availability")
    return _page(request, clinician, status=400, hours_form=form)


@require_POST
@clinician_only
def period_add_view(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in ("time-off", "extra"):
        raise Http404("No such kind of period")
    clinician = _clinician(request)
    form = PeriodForm(request.POST, zone=zoneinfo.ZoneInfo(clinician.time_zone), prefix=kind)
    if not form.is_valid():
        key = "time_off_form" if kind == "time-off" else "extra_form"
        return _page(request, clinician, status=400, **{key: form})
    period_add(kind=KINDS[kind], clinician=clinician, **form.cleaned_data)
    if kind == "time-off":
        clashes = appointments_during(
            clinician=clinician,
            starts_at=form.cleaned_data["starts_at"],
            ends_at=form.cleaned_data["ends_at"],
        )
        if clashes:
            names = ", ".join(sorted({a.client.name for a in clashes}))
            messages.warning(
                request,
                f"Time off added. {len(clashes)} booked session(s) fall in it ({names}): "
                "they are not cancelled automatically, so please contact these clients.",
            )
            return redirect("sessions:availability")
    messages.success(request, "Time off added." if kind == "time-off" else "Extra hours added.")
    return redirect("sessions:availability")


@require_POST
@clinician_only
def remove(request: HttpRequest, kind: str, item_uuid: UUID) -> HttpResponse:
    if kind not in KINDS:
        raise Http404("No such kind of period")
    availability_remove(kind=KINDS[kind], clinician=_clinician(request), item_uuid=item_uuid)
    messages.success(request, "Removed.")
    return redirect("sessions:availability")
