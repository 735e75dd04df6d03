"""Slot computation against a brute-force oracle on random calendars."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.booking.slots import (
    ClinicianCalendar,
    Interval,
    SlotRules,
    WeeklyPeriod,
    free_slots,
    working_intervals,
)

ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
BASE = dt.datetime(2026, 3, 6, tzinfo=dt.UTC)  # spans the New York DST change on 8 March


@st.composite
def weekly_periods(draw) -> list[WeeklyPeriod]:
    periods = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, 22 * 4)) * 15
        end = draw(st.integers(start // 15 + 1, 24 * 4 - 1)) * 15
        periods.append(
            WeeklyPeriod(
                draw(st.integers(0, 6)),
                dt.time(start // 60, start % 60),
                dt.time(end // 60, end % 60),
            )
        )
    return periods


@st.composite
def intervals(draw, max_count: int = 6) -> list[Interval]:
    found = []
    for _ in range(draw(st.integers(0, max_count))):
        start = BASE + dt.timedelta(minutes=5 * draw(st.integers(0, 4 * 24 * 12)))
        found.append(Interval(start, start + dt.timedelta(minutes=5 * draw(st.integers(1, 48)))))
    return found


@st.composite
def rules(draw) -> SlotRules:
    return SlotRules(
        duration=dt.timedelta(minutes=5 * draw(st.integers(1, 24))),
        buffer_before=dt.timedelta(minutes=5 * draw(st.integers(0, 6))),
        buffer_after=dt.timedelta(minutes=5 * draw(st.integers(0, 6))),
        step=dt.timedelta(minutes=5 * draw(st.integers(1, 12))),
        minimum_notice=dt.timedelta(minutes=15 * draw(st.integers(0, 16))),
        horizon=dt.timedelta(hours=draw(st.integers(1, 96))),
    )


def oracle(
    calendar: ClinicianCalendar, rule: SlotRules, window: Interval, now: dt.datetime
) -> list[dt.datetime]:
    """Every grid start, checked one by one against every rule, with no cleverness."""
    busy = [*calendar.time_off, *calendar.booked]
    found = []
    for period in working_intervals(calendar, window):
        start = period.start
        while start + rule.duration <= period.end:
            blocked = Interval(
                start - rule.buffer_before, start + rule.duration + rule.buffer_after
            )
            if (
                window.start <= start < window.end
                and start >= now + rule.minimum_notice
                and start < now + rule.horizon
                and not any(blocked.overlaps(other) for other in busy)
            ):
                found.append(start)
            start += rule.step
    return found


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    weekly=weekly_periods(),
    extra=intervals(max_count=2),
    time_off=intervals(),
    booked=intervals(),
    rule=rules(),
    now_offset=st.integers(-48, 48),
)
def test_free_slots_match_the_rules_checked_one_by_one(
    zone: str, weekly, extra, time_off, booked, rule: SlotRules, now_offset: int
) -> None:
    calendar = ClinicianCalendar(
        1, zone, weekly=weekly, extra=extra, time_off=time_off, booked=booked
    )
    window = Interval(BASE, BASE + dt.timedelta(days=4))
    now = BASE + dt.timedelta(hours=now_offset)

    slots = list(free_slots(calendar, rule, window, now=now))

    assert [slot.starts_at for slot in slots] == oracle(calendar, rule, window, now)
    for slot in slots:
        assert slot.ends_at - slot.starts_at == rule.duration
        blocked = Interval(slot.starts_at - rule.buffer_before, slot.ends_at + rule.buffer_after)
        assert not any(blocked.overlaps(other) for other in [*time_off, *booked])
