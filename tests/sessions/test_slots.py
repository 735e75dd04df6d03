"""Slot rules on plain data: working hours, buffers, notice, horizon, time off and DST."""

import datetime as dt
import zoneinfo

import pytest

from sessions.booking.selectors import days_window, slots_by_day
from sessions.booking.slots import (
    ClinicianCalendar,
    Interval,
    SlotRules,
    WeeklyPeriod,
    free_slots,
    slots_for_any,
)

UTC = dt.UTC
LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
AUCKLAND = zoneinfo.ZoneInfo("Pacific/Auckland")

ASSESSMENT = SlotRules(
    duration=dt.timedelta(minutes=45),
    buffer_after=dt.timedelta(minutes=15),
    step=dt.timedelta(minutes=15),
)


def before(window: Interval) -> dt.datetime:
    """A "now" shortly before the window, so neither notice nor horizon is in the way."""
    return window.start - dt.timedelta(days=1)


def every_day(start: int, end: int) -> list[WeeklyPeriod]:
    return [WeeklyPeriod(day, dt.time(start), dt.time(end)) for day in range(7)]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(zone: zoneinfo.ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


def day_window(zone: zoneinfo.ZoneInfo, day: dt.date) -> Interval:
    return days_window(day, day, zone)


def starts(
    calendar: ClinicianCalendar, rules: SlotRules, window: Interval, now: dt.datetime | None = None
) -> list[dt.datetime]:
    return [
        slot.starts_at for slot in free_slots(calendar, rules, window, now=now or before(window))
    ]


def wall_clock(times: list[dt.datetime], zone: zoneinfo.ZoneInfo) -> list[str]:
    return [t.astimezone(zone).strftime("%H:%M") for t in times]


MONDAY = dt.date(2026, 6, 8)  # British Summer Time: London is UTC+1


def test_a_working_day_offers_every_step_that_fits_before_closing() -> None:
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17))

    times = wall_clock(starts(calendar, ASSESSMENT, day_window(LONDON, MONDAY)), LONDON)

    assert times[0] == "09:00"
    assert times[-1] == "16:15"  # 16:15 + 45 min ends at closing time
    assert len(times) == 30


def test_buffers_keep_appointments_apart() -> None:
    booked = Interval(
        local(LONDON, 2026, 6, 8, 10, 0), local(LONDON, 2026, 6, 8, 11, 0)
    )  # 10:00-10:45 + 15
    rules = SlotRules(
        duration=dt.timedelta(minutes=45),
        buffer_before=dt.timedelta(minutes=10),
        buffer_after=dt.timedelta(minutes=15),
        step=dt.timedelta(minutes=15),
    )
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17), booked=[booked])

    times = wall_clock(starts(calendar, rules, day_window(LONDON, MONDAY)), LONDON)

    # 09:00 ends 09:45, its 15 min buffer ends exactly when the booked range starts.
    assert "09:00" in times
    assert "09:15" not in times
    # 11:00 would need its 10 min buffer before to start at 10:50, inside the booked range.
    assert "11:00" not in times
    assert "11:15" in times
    assert not [t for t in times if "09:15" <= t <= "10:45"]


def test_buffer_may_reach_beyond_working_hours_but_session_may_not() -> None:
    rules = SlotRules(
        duration=dt.timedelta(minutes=45),
        buffer_before=dt.timedelta(minutes=30),
        buffer_after=dt.timedelta(minutes=30),
        step=dt.timedelta(minutes=15),
    )
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17))

    times = wall_clock(starts(calendar, rules, day_window(LONDON, MONDAY)), LONDON)

    assert times[0] == "09:00"
    assert times[-1] == "16:15"


def test_minimum_notice_and_horizon() -> None:
    rules = SlotRules(
        duration=dt.timedelta(minutes=45),
        step=dt.timedelta(minutes=15),
        minimum_notice=dt.timedelta(minutes=120),
        horizon=dt.timedelta(days=1, hours=2),
    )
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17))
    now = local(LONDON, 2026, 6, 8, 8, 20)

    def times_on(day: dt.date) -> list[str]:
        return wall_clock(starts(calendar, rules, day_window(LONDON, day), now=now), LONDON)

    assert times_on(MONDAY)[0] == "10:30"  # the first step at least two hours after 08:20
    # The horizon ends on Tuesday at 10:20.
    assert times_on(MONDAY + dt.timedelta(days=1)) == [
        "09:00",
        "09:15",
        "09:30",
        "09:45",
        "10:00",
        "10:15",
    ]
    assert times_on(MONDAY + dt.timedelta(days=2)) == []


def test_time_off_blocks_slots_and_their_buffers() -> None:
    lunch = Interval(local(LONDON, 2026, 6, 8, 12, 0), local(LONDON, 2026, 6, 8, 13, 0))
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17), time_off=[lunch])

    times = wall_clock(starts(calendar, ASSESSMENT, day_window(LONDON, MONDAY)), LONDON)

    assert "11:00" in times  # ends 11:45, buffer until 12:00
    assert "11:15" not in times
    assert "12:30" not in times
    assert "13:00" in times


def test_a_whole_day_off_leaves_no_slots() -> None:
    day_off = Interval(local(LONDON, 2026, 6, 8, 0, 0), local(LONDON, 2026, 6, 9, 0, 0))
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17), time_off=[day_off])

    assert starts(calendar, ASSESSMENT, day_window(LONDON, MONDAY)) == []


def test_extra_hours_add_time_outside_the_week() -> None:
    saturday = dt.date(2026, 6, 13)
    weekdays_only = [WeeklyPeriod(day, dt.time(9), dt.time(17)) for day in range(5)]
    extra = Interval(local(LONDON, 2026, 6, 13, 10, 0), local(LONDON, 2026, 6, 13, 12, 0))

    without = ClinicianCalendar(1, "Europe/London", weekly=weekdays_only)
    with_extra = ClinicianCalendar(1, "Europe/London", weekly=weekdays_only, extra=[extra])

    assert starts(without, ASSESSMENT, day_window(LONDON, saturday)) == []
    assert wall_clock(starts(with_extra, ASSESSMENT, day_window(LONDON, saturday)), LONDON) == [
        "10:00",
        "10:15",
        "10:30",
        "10:45",
        "11:00",
        "11:15",
    ]


def test_cancelled_appointments_are_not_passed_in_so_their_time_is_free() -> None:
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 10))
    assert wall_clock(starts(calendar, ASSESSMENT, day_window(LONDON, MONDAY)), LONDON) == [
        "09:00",
        "09:15",
    ]


@pytest.mark.parametrize(
    ("zone", "before", "after", "first_before_utc", "first_after_utc"),
    [
        # Spring forward: New York moves from UTC-5 to UTC-4 on Sunday 8 March 2026.
        (
            NEW_YORK,
            dt.date(2026, 3, 7),
            dt.date(2026, 3, 8),
            utc(2026, 3, 7, 14, 0),
            utc(2026, 3, 8, 13, 0),
        ),
        # Fall back: New York returns to UTC-5 on Sunday 1 November 2026.
        (
            NEW_YORK,
            dt.date(2026, 10, 31),
            dt.date(2026, 11, 1),
            utc(2026, 10, 31, 13, 0),
            utc(2026, 11, 1, 14, 0),
        ),
        # London moves from GMT to BST on Sunday 29 March 2026.
        (
            LONDON,
            dt.date(2026, 3, 28),
            dt.date(2026, 3, 29),
            utc(2026, 3, 28, 9, 0),
            utc(2026, 3, 29, 8, 0),
        ),
    ],
)
def test_weekly_hours_stay_on_the_clinicians_wall_clock_across_dst(
    zone: zoneinfo.ZoneInfo,
    before: dt.date,
    after: dt.date,
    first_before_utc: dt.datetime,
    first_after_utc: dt.datetime,
) -> None:
    calendar = ClinicianCalendar(1, zone.key, weekly=every_day(9, 17))

    on_before = starts(calendar, ASSESSMENT, day_window(zone, before))
    on_after = starts(calendar, ASSESSMENT, day_window(zone, after))

    assert on_before[0] == first_before_utc
    assert on_after[0] == first_after_utc
    assert wall_clock(on_before, zone) == wall_clock(on_after, zone)
    assert len(on_before) == len(on_after) == 30


def test_hours_through_the_spring_forward_gap_are_an_hour_shorter() -> None:
    # 01:00-04:00 on 8 March 2026 in New York lasts two real hours: 02:00-03:00 does not exist.
    calendar = ClinicianCalendar(1, "America/New_York", weekly=every_day(1, 4))
    hourly = SlotRules(duration=dt.timedelta(hours=1), step=dt.timedelta(hours=1))

    times = starts(calendar, hourly, day_window(NEW_YORK, dt.date(2026, 3, 8)))

    assert times == [utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0)]
    assert wall_clock(times, NEW_YORK) == ["01:00", "03:00"]


def test_hours_through_the_fall_back_repeat_are_an_hour_longer() -> None:
    # 00:00-03:00 on 1 November 2026 in New York lasts four real hours: 01:00-02:00 happens twice.
    calendar = ClinicianCalendar(1, "America/New_York", weekly=every_day(0, 3))
    hourly = SlotRules(duration=dt.timedelta(hours=1), step=dt.timedelta(hours=1))

    times = starts(calendar, hourly, day_window(NEW_YORK, dt.date(2026, 11, 1)))

    assert times == [utc(2026, 11, 1, hour, 0) for hour in (4, 5, 6, 7)]
    assert wall_clock(times, NEW_YORK) == ["00:00", "01:00", "01:00", "02:00"]


def test_wall_time_inside_the_gap_starts_when_the_clock_shows_it() -> None:
    # Hours "from 02:30" on the spring-forward day begin at 03:30 EDT, the first real instant
    # at or after that wall time.
    calendar = ClinicianCalendar(
        1, "America/New_York", weekly=[WeeklyPeriod(6, dt.time(2, 30), dt.time(5, 0))]
    )
    hourly = SlotRules(duration=dt.timedelta(hours=1), step=dt.timedelta(hours=1))

    times = starts(calendar, hourly, day_window(NEW_YORK, dt.date(2026, 3, 8)))

    assert wall_clock(times, NEW_YORK) == ["03:30"]


def test_viewer_in_another_zone_sees_slots_under_their_own_dates() -> None:
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17))
    monday = dt.date(2026, 6, 8)
    window = days_window(monday, monday, AUCKLAND)  # Auckland is UTC+12 in June, London UTC+1

    slots = list(free_slots(calendar, ASSESSMENT, window, now=before(window)))
    [(_, on_monday)] = slots_by_day(slots, [monday], AUCKLAND)

    auckland_times = wall_clock([s.starts_at for s in on_monday], AUCKLAND)
    london_days = {s.starts_at.astimezone(LONDON).strftime("%a") for s in on_monday}
    # Monday in Auckland holds the end of London's Sunday (13:00-16:15 there) and the
    # start of London's Monday (09:00-12:45 there).
    assert auckland_times[0] == "00:00"
    assert auckland_times[13] == "03:15"
    assert auckland_times[14] == "20:00"
    assert auckland_times[-1] == "23:45"
    assert len(auckland_times) == 30
    assert london_days == {"Sun", "Mon"}


def test_clinician_and_viewer_change_clocks_on_different_dates() -> None:
    # London changes on 29 March, New York already did on 8 March: for a New York viewer a
    # London 09:00 start is 05:00 on 28 March and 04:00 on 29 March.
    calendar = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 17))
    saturday, sunday = dt.date(2026, 3, 28), dt.date(2026, 3, 29)
    window = days_window(saturday, sunday, NEW_YORK)

    slots = list(free_slots(calendar, ASSESSMENT, window, now=before(window)))
    grouped = dict(slots_by_day(slots, [saturday, sunday], NEW_YORK))

    assert wall_clock([grouped[saturday][0].starts_at], NEW_YORK) == ["05:00"]
    assert wall_clock([grouped[sunday][0].starts_at], NEW_YORK) == ["04:00"]


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        # New York on EST (UTC-5), London on GMT: five hours apart.
        (dt.date(2026, 3, 7), "14:00", "21:15"),
        # New York springs forward on 8 March; London not until 29 March: four hours apart.
        (dt.date(2026, 3, 8), "13:00", "20:15"),
        # London springs forward too: five hours again.
        (dt.date(2026, 3, 29), "14:00", "21:15"),
        # Both on summer time.
        (dt.date(2026, 10, 24), "14:00", "21:15"),
        # London falls back on 25 October, New York not until 1 November: four hours apart.
        (dt.date(2026, 10, 31), "13:00", "20:15"),
        # New York falls back: five hours again.
        (dt.date(2026, 11, 1), "14:00", "21:15"),
    ],
)
def test_a_new_york_clinician_seen_from_london_around_both_changes(
    day: dt.date, first: str, last: str
) -> None:
    calendar = ClinicianCalendar(1, "America/New_York", weekly=every_day(9, 17))
    window = days_window(day, day, LONDON)

    slots = list(free_slots(calendar, ASSESSMENT, window, now=before(window)))
    [(_, on_day)] = slots_by_day(slots, [day], LONDON)

    london = wall_clock([slot.starts_at for slot in on_day], LONDON)
    assert (london[0], london[-1]) == (first, last)
    assert len(london) == 30
    # Still 09:00 to 16:15 on the clinician's own clock, on the same date.
    assert wall_clock([on_day[0].starts_at, on_day[-1].starts_at], NEW_YORK) == ["09:00", "16:15"]
    assert {slot.starts_at.astimezone(NEW_YORK).date() for slot in on_day} == {day}


def test_new_yorks_skipped_and_repeated_hours_seen_from_london() -> None:
    hourly = SlotRules(duration=dt.timedelta(hours=1), step=dt.timedelta(hours=1))
    spring = dt.date(2026, 3, 8)
    fall = dt.date(2026, 11, 1)
    # 01:00-04:00 on the clinician's clock both nights.
    calendar = ClinicianCalendar(1, "America/New_York", weekly=every_day(1, 4))

    def seen_from_london(day: dt.date) -> list[dt.datetime]:
        window = days_window(day, day, LONDON)
        slots = list(free_slots(calendar, hourly, window, now=before(window)))
        [(_, on_day)] = slots_by_day(slots, [day], LONDON)
        return [slot.starts_at for slot in on_day]

    # The skipped hour leaves two sessions; London (GMT) sees them an hour apart.
    spring_times = seen_from_london(spring)
    assert wall_clock(spring_times, NEW_YORK) == ["01:00", "03:00"]
    assert wall_clock(spring_times, LONDON) == ["06:00", "07:00"]
    # The repeated hour gives four sessions; in London they are four distinct times, where
    # New York's clock shows 01:00 twice.
    fall_times = seen_from_london(fall)
    assert wall_clock(fall_times, NEW_YORK) == ["01:00", "01:00", "02:00", "03:00"]
    assert wall_clock(fall_times, LONDON) == ["05:00", "06:00", "07:00", "08:00"]


def test_any_clinician_offers_each_time_once_to_the_preferred_clinician() -> None:
    maya = ClinicianCalendar(1, "Europe/London", weekly=every_day(9, 11))
    sam = ClinicianCalendar(2, "Europe/London", weekly=every_day(10, 12))
    window = day_window(LONDON, MONDAY)
    by_clinician = {
        calendar.clinician_id: list(free_slots(calendar, ASSESSMENT, window, now=before(window)))
        for calendar in (maya, sam)
    }

    merged = slots_for_any(by_clinician, preference=[2, 1])

    times = [slot.starts_at for slot in merged]
    assert times == sorted(set(times))
    assert wall_clock(times, LONDON)[0] == "09:00"
    assert wall_clock(times, LONDON)[-1] == "11:15"
    owner = {
        slot.starts_at.astimezone(LONDON).strftime("%H:%M"): slot.clinician_id for slot in merged
    }
    assert owner["09:00"] == 1  # only Maya works at 09:00
    assert owner["10:00"] == 2  # both do; Sam is preferred
    assert owner["11:15"] == 2


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Interval(dt.datetime(2026, 6, 8, 9), dt.datetime(2026, 6, 8, 10))
