"""A week of free start times, shown on the viewer's clock; shared by booking and rescheduling."""

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone

from clinic.models import Clinician
from sessions.booking.forms import parse_day
from sessions.booking.selectors import days_window, service_rules, slots_available, slots_by_day
from sessions.models import Service

DAYS_SHOWN = 7


@dataclass(frozen=True)
class SlotChoice:
    starts_at: dt.datetime
    clinician: Clinician

    @property
    def value(self) -> str:
        return self.starts_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SlotWeek:
    days: list[tuple[dt.date, list[SlotChoice]]]
    first_day: dt.date
    previous_week: dt.date | None
    next_week: dt.date | None
    time_zone: str
    error: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(slots for _, slots in self.days)


def slot_week(
    request: HttpRequest,
    *,
    service: Service,
    clinicians: Sequence[Clinician],
    exclude_appointment_id: int | None = None,
    first_day: dt.date | None = None,
) -> SlotWeek:
    """The week starting at ``?week=`` (or ``first_day``, or today) in the viewer's zone."""
    zone = zoneinfo.ZoneInfo(request.viewer_time_zone)
    now = timezone.now()
    today = now.astimezone(zone).date()
    last_bookable_day = service_rules(service).latest_start(now).astimezone(zone).date()
    error = ""
    if first_day is None:
        requested = request.GET.get("week", "")
        first_day = parse_day(requested) if requested else today
        if first_day is None:
            error = f"“{requested[:20]}” is not a date. Showing this week instead."
            first_day = today
    first_day = min(max(first_day, today), last_bookable_day)
    days = [first_day + dt.timedelta(days=offset) for offset in range(DAYS_SHOWN)]
    window = days_window(days[0], days[-1], zone)
    slots = slots_available(
        service=service,
        clinicians=clinicians,
        window=window,
        now=now,
        exclude_appointment_id=exclude_appointment_id,
    )
    by_id = {clinician.pk: clinician for clinician in clinicians}
    grouped = [
        (day, [SlotChoice(slot.starts_at, by_id[slot.clinician_id]) for slot in day_slots])
        for day, day_slots in slots_by_day(slots, days, zone)
    ]
    next_first = first_day + dt.timedelta(days=DAYS_SHOWN)
    return SlotWeek(
        days=grouped,
        first_day=first_day,
        previous_week=max(first_day - dt.timedelta(days=DAYS_SHOWN), today)
        if first_day > today
        else None,
        next_week=next_first if next_first <= last_bookable_day else None,
        time_zone=request.viewer_time_zone,
        error=error,
    )
