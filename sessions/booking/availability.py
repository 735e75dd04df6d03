"""A clinician's own working time: weekly hours, time off and extra hours."""

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.http import Http404

from clinic.models import Clinician
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ExtraHours,
    TimeOff,
    Weekday,
    WeeklyHours,
)


class AvailabilityError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Availability:
    weekly: list[WeeklyHours]
    time_off: list[TimeOff]
    extra: list[ExtraHours]


def availability_for(clinician: Clinician, *, now: dt.datetime) -> Availability:
    return Availability(
        weekly=list(clinician.weekly_hours.order_by("weekday", "starts_at")),
        time_off=list(clinician.time_off.filter(ends_at__gt=now).order_by("starts_at")),
        extra=list(clinician.extra_hours.filter(ends_at__gt=now).order_by("starts_at")),
    )


@transaction.atomic
def weekly_hours_add(
    *, clinician: Clinician, weekday: int, starts_at: dt.time, ends_at: dt.time
) -> WeeklyHours:
    # Lock the clinician row so two tabs adding hours cannot both pass the overlap check.
    Clinician.objects.select_for_update().get(pk=clinician.pk)
    if WeeklyHours.objects.filter(
        clinician=clinician, weekday=weekday, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).exists():
        raise AvailabilityError(
            f"These hours overlap hours you already work on {Weekday(weekday).label}s."
        )
    return WeeklyHours.objects.create(
        clinician=clinician, weekday=weekday, starts_at=starts_at, ends_at=ends_at
    )


def appointments_during(
    *, clinician: Clinician, starts_at: dt.datetime, ends_at: dt.datetime
) -> list[Appointment]:
    """Live appointments in a period, so a clinician taking time off sees whom to contact."""
    return list(
        Appointment.objects.filter(
            clinician=clinician, starts_at__lt=ends_at, ends_at__gt=starts_at
        )
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("client__user", "service")
    )


def period_add(
    *,
    kind: type[TimeOff] | type[ExtraHours],
    clinician: Clinician,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    note: str,
) -> TimeOff | ExtraHours:
    return kind.objects.create(clinician=clinician, starts_at=starts_at, ends_at=ends_at, note=note)


def availability_remove(
    *,
    kind: type[WeeklyHours] | type[TimeOff] | type[ExtraHours],
    clinician: Clinician,
    item_uuid: UUID,
) -> None:
    deleted, _ = kind.objects.filter(clinician=clinician, uuid=item_uuid).delete()
    if not deleted:
        raise Http404("No such period")
