"""Bookable start times, computed from plain data so the rules can be tested without a database.

Rules:
- A session lies entirely inside the clinician's working time: weekly hours (wall-clock times
  in the clinician's own zone, so 09:00 stays 09:00 across DST changes) plus extra hours.
- The session with the service's buffers around it must not overlap time off or another live
  appointment's blocked range (that appointment's session plus its own buffers).
- Start times step by the service's slot interval from the beginning of each working period,
  start no sooner than the minimum notice and no later than the booking horizon.
"""

import bisect
import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

UTC = dt.UTC


@dataclass(frozen=True, order=True)
class Interval:
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Intervals need aware datetimes")

    def overlaps(self, other: "Interval") -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class WeeklyPeriod:
    weekday: int  # Monday = 0
    starts_at: dt.time
    ends_at: dt.time


@dataclass(frozen=True)
class ClinicianCalendar:
    clinician_id: int
    time_zone: str
    weekly: Sequence[WeeklyPeriod] = ()
    extra: Sequence[Interval] = ()
    time_off: Sequence[Interval] = ()
    booked: Sequence[Interval] = ()


@dataclass(frozen=True)
class SlotRules:
    duration: dt.timedelta
    buffer_before: dt.timedelta = dt.timedelta()
    buffer_after: dt.timedelta = dt.timedelta()
    step: dt.timedelta = dt.timedelta(minutes=15)
    minimum_notice: dt.timedelta = dt.timedelta()
    horizon: dt.timedelta = dt.timedelta(days=60)

    def latest_start(self, now: dt.datetime) -> dt.datetime:
        """The latest a session may start when booked at ``now``: the booking horizon. The one
        place it is computed (the slots, the week pages' last day and the form's check)."""
        return now + self.horizon


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: dt.datetime
    ends_at: dt.datetime = field(compare=False)
    clinician_id: int = field(compare=False)


def local_to_utc(day: dt.date, wall_time: dt.time, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant a wall-clock time happens on a day in a zone.

    A time skipped by a spring-forward change (02:30 on 2026-03-08 in New York) maps to the
    instant the clock shows it after moving forward (03:30); a time repeated by a fall-back
    change takes its first occurrence.
    """
    return dt.datetime.combine(day, wall_time, tzinfo=zone).astimezone(UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


def working_intervals(calendar: ClinicianCalendar, window: Interval) -> list[Interval]:
    zone = zoneinfo.ZoneInfo(calendar.time_zone)
    first_day = window.start.astimezone(zone).date() - dt.timedelta(days=1)
    last_day = window.end.astimezone(zone).date() + dt.timedelta(days=1)
    by_weekday: dict[int, list[WeeklyPeriod]] = {}
    for period in calendar.weekly:
        by_weekday.setdefault(period.weekday, []).append(period)
    periods = []
    day = first_day
    while day <= last_day:
        for period in by_weekday.get(day.weekday(), ()):
            start = local_to_utc(day, period.starts_at, zone)
            end = local_to_utc(day, period.ends_at, zone)
            if start < end:
                periods.append(Interval(start, end))
        day += dt.timedelta(days=1)
    periods.extend(calendar.extra)
    return [p for p in merge(periods) if p.overlaps(window)]


class _Busy:
    """Merged busy intervals with a fast "does this overlap anything" test."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = merge(intervals)
        self.starts = [interval.start for interval in self.intervals]

    def overlaps(self, candidate: Interval) -> bool:
        # Merged intervals are disjoint and sorted, so the last one starting before the
        # candidate ends is the only one that can reach into it.
        index = bisect.bisect_left(self.starts, candidate.end) - 1
        return index >= 0 and self.intervals[index].end > candidate.start


def free_slots(
    calendar: ClinicianCalendar, rules: SlotRules, window: Interval, *, now: dt.datetime
) -> Iterator[Slot]:
    """Start times in ``window`` at which the clinician can take a session under ``rules``."""
    earliest = max(window.start, now + rules.minimum_notice)
    latest = min(window.end, rules.latest_start(now))
    if earliest >= latest:
        return
    busy = _Busy([*calendar.time_off, *calendar.booked])
    for period in working_intervals(calendar, window):
        start = period.start
        if start < earliest:
            # Jump to the first step at or after the earliest allowed start.
            steps = -(-(earliest - start) // rules.step)
            start += steps * rules.step
        while start + rules.duration <= period.end and start < latest:
            end = start + rules.duration
            blocked = Interval(start - rules.buffer_before, end + rules.buffer_after)
            if not busy.overlaps(blocked):
                yield Slot(starts_at=start, ends_at=end, clinician_id=calendar.clinician_id)
            start += rules.step


def on_schedule(calendar: ClinicianCalendar, rules: SlotRules, start: dt.datetime) -> bool:
    """Whether ``start`` is one of the clinician's start times at all, whatever is booked, off
    or too soon: a step of the grid of a working period, with the whole session inside it.

    A time that is not (15:07 on a quarter-hour grid, or outside working hours) was never
    offered, so it cannot have been "just taken".
    """
    end = start + rules.duration
    for period in working_intervals(calendar, Interval(start, end)):
        if period.start <= start and end <= period.end and not (start - period.start) % rules.step:
            return True
    return False


def slots_for_any(
    slots_by_clinician: dict[int, list[Slot]], preference: Sequence[int]
) -> list[Slot]:
    """One slot per start time across clinicians, given to the first in ``preference`` order."""
    rank = {clinician_id: position for position, clinician_id in enumerate(preference)}
    chosen: dict[dt.datetime, Slot] = {}
    for clinician_id, slots in slots_by_clinician.items():
        for slot in slots:
            current = chosen.get(slot.starts_at)
            if current is None or rank.get(clinician_id, len(rank)) < rank.get(
                current.clinician_id, len(rank)
            ):
                chosen[slot.starts_at] = slot
    return sorted(chosen.values())
