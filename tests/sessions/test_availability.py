"""Clinicians set their own hours on their own clock; bookings follow."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from sessions.models import ExtraHours, TimeOff, WeeklyHours
from tests import factories
from tests.conftest import MONDAY_MORNING

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def monday_morning():
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


@pytest.fixture
def sam(other_clinician):
    """Sam works in New York; start him with no hours at all."""
    other_clinician.weekly_hours.all().delete()
    return other_clinician


def add_hours(http, weekday: int, start: str, end: str):
    return http.post(
        reverse("sessions:availability_hours_add"),
        {"weekday": weekday, "starts_at": start, "ends_at": end},
    )


def test_weekly_hours_are_kept_on_the_clinicians_clock(sam, as_other_clinician) -> None:
    response = add_hours(as_other_clinician, 0, "09:00", "12:00")

    assert response.status_code == 302
    hours = WeeklyHours.objects.get(clinician=sam)
    assert (hours.weekday, hours.starts_at, hours.ends_at) == (0, dt.time(9), dt.time(12))
    page = as_other_clinician.get(reverse("sessions:availability"))
    assert "America/New_York" in page.text
    assert "09:00" in page.text


def test_overlapping_or_backwards_hours_are_refused(sam, as_other_clinician) -> None:
    add_hours(as_other_clinician, 0, "09:00", "12:00")

    overlap = add_hours(as_other_clinician, 0, "11:00", "13:00")
    backwards = add_hours(as_other_clinician, 1, "17:00", "09:00")
    nonsense = add_hours(as_other_clinician, 9, "25:00", "x")

    assert overlap.status_code == 400
    assert "overlap hours you already work on Mondays" in overlap.text
    assert backwards.status_code == 400
    assert "The end must be later than the start" in backwards.text
    assert nonsense.status_code == 400
    assert WeeklyHours.objects.filter(clinician=sam).count() == 1


def test_time_off_is_entered_on_the_clinicians_clock(sam, as_other_clinician) -> None:
    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["time-off"]),
        {
            "time-off-starts_at": "2026-06-10T09:00",
            "time-off-ends_at": "2026-06-10T17:00",
            "time-off-note": "Course",
        },
    )

    assert response.status_code == 302
    period = TimeOff.objects.get(clinician=sam)
    assert period.starts_at == dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)  # 09:00 EDT
    assert period.note == "Course"


def test_a_time_skipped_by_the_clocks_going_forward_is_refused(sam, as_other_clinician) -> None:
    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["extra"]),
        {"extra-starts_at": "2027-03-14T02:30", "extra-ends_at": "2027-03-14T05:00"},
    )

    assert response.status_code == 400
    assert "does not exist in America/New_York" in response.text
    assert not ExtraHours.objects.exists()


@pytest.mark.parametrize("kind", ["time-off", "extra"])
@pytest.mark.parametrize(
    ("starts_at", "ends_at"),
    [
        # 23:00 in New York on the last day of year 9999 is already year 10000 in UTC.
        ("9999-12-31T22:00", "9999-12-31T23:00"),
        ("0001-01-01T09:00", "0001-01-01T17:00"),
        ("2026-06-10T09:00", "2031-06-10T09:00"),
        ("2025-06-01T09:00", "2026-06-10T09:00"),
    ],
)
def test_periods_far_from_today_are_refused(
    sam, as_other_clinician, kind: str, starts_at: str, ends_at: str
) -> None:
    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=[kind]),
        {f"{kind}-starts_at": starts_at, f"{kind}-ends_at": ends_at},
    )

    assert response.status_code == 400
    # Today is 8 June 2026 on Sam's clock.
    assert "Enter a date from 8 Jun 2025 to 7 Jun 2029." in response.text
    assert not TimeOff.objects.exists()
    assert not ExtraHours.objects.exists()


def test_periods_at_the_edges_of_the_accepted_dates_are_kept(sam, as_other_clinician) -> None:
    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["time-off"]),
        {"time-off-starts_at": "2025-06-08T00:00", "time-off-ends_at": "2029-06-07T23:59"},
    )

    assert response.status_code == 302
    period = TimeOff.objects.get(clinician=sam)
    assert period.starts_at == dt.datetime(2025, 6, 8, 4, 0, tzinfo=dt.UTC)
    assert period.ends_at == dt.datetime(2029, 6, 8, 3, 59, tzinfo=dt.UTC)


def test_time_off_over_booked_sessions_warns_the_clinician(
    sam, as_other_clinician, service, client_record
) -> None:
    factories.make_appointment(
        service=service,
        clinician=sam,
        client=client_record,
        starts_at=dt.datetime(2026, 6, 10, 14, 0, tzinfo=dt.UTC),
    )

    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["time-off"]),
        {"time-off-starts_at": "2026-06-10T09:00", "time-off-ends_at": "2026-06-10T17:00"},
        follow=True,
    )

    assert "1 booked session(s) fall in it (Ana Silva)" in response.text


def test_new_hours_and_extra_hours_open_slots_and_time_off_closes_them(
    sam, as_other_clinician, service, as_stranger
) -> None:
    slots_url = reverse("sessions:book_slots", args=[service.uuid, sam.uuid])

    def offered(week: str = "2026-06-08") -> str:
        return as_stranger.get(slots_url, {"week": week, "tz": "America/New_York"}).text

    assert ">09:00<" not in offered()
    add_hours(as_other_clinician, 2, "09:00", "10:00")  # Wednesdays
    assert ">09:00<" in offered()
    as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["time-off"]),
        {"time-off-starts_at": "2026-06-10T00:00", "time-off-ends_at": "2026-06-11T00:00"},
    )
    assert ">09:00<" not in offered()
    as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["extra"]),
        {"extra-starts_at": "2026-06-13T15:00", "extra-ends_at": "2026-06-13T16:00"},
    )
    assert ">15:00<" in offered()


def test_removing_only_works_on_ones_own_periods(
    sam, clinician, as_other_clinician, as_clinician
) -> None:
    add_hours(as_other_clinician, 0, "09:00", "12:00")
    hours = WeeklyHours.objects.get(clinician=sam)

    assert (
        as_clinician.post(
            reverse("sessions:availability_remove", args=["hours", hours.uuid])
        ).status_code
        == 404
    )
    assert WeeklyHours.objects.filter(pk=hours.pk).exists()
    assert (
        as_other_clinician.post(
            reverse("sessions:availability_remove", args=["hours", hours.uuid])
        ).status_code
        == 302
    )
    assert not WeeklyHours.objects.filter(pk=hours.pk).exists()
    assert (
        as_other_clinician.post(
            reverse("sessions:availability_remove", args=["bogus", hours.uuid])
        ).status_code
        == 404
    )


def test_only_clinicians_have_working_hours(as_client, as_admin, as_stranger) -> None:
    url = reverse("sessions:availability")

    assert as_client.get(url).status_code == 403
    assert as_admin.get(url).status_code == 403
    assert as_stranger.get(url).status_code == 302


def test_changing_hours_is_refused_to_everyone_but_clinicians(
    sam, as_client, as_other_client, as_admin, as_stranger
) -> None:
    posts = [
        (
            reverse("sessions:availability_hours_add"),
            {"weekday": 0, "starts_at": "09:00", "ends_at": "12:00"},
        ),
        (
            reverse("sessions:availability_period_add", args=["time-off"]),
            {"time-off-starts_at": "2026-06-10T09:00", "time-off-ends_at": "2026-06-10T17:00"},
        ),
        (
            reverse("sessions:availability_period_add", args=["extra"]),
            {"extra-starts_at": "2026-06-13T15:00", "extra-ends_at": "2026-06-13T16:00"},
        ),
    ]
    for url, data in posts:
        for persona in (as_client, as_other_client, as_admin):
            assert persona.post(url, data).status_code == 403, url
        refused = as_stranger.post(url, data)
        assert refused.status_code == 302
        assert refused["Location"].startswith(reverse("clinic:login"))

    assert not WeeklyHours.objects.filter(clinician=sam).exists()
    assert not TimeOff.objects.exists()
    assert not ExtraHours.objects.exists()


def test_time_off_names_only_the_clinicians_own_clients(
    sam, clinician, as_other_clinician, service, client_record
) -> None:
    # Ana's session is with Maya; Sam taking the same afternoon off learns nothing about it.
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=dt.datetime(2026, 6, 10, 14, 0, tzinfo=dt.UTC),
    )

    response = as_other_clinician.post(
        reverse("sessions:availability_period_add", args=["time-off"]),
        {"time-off-starts_at": "2026-06-10T09:00", "time-off-ends_at": "2026-06-10T17:00"},
        follow=True,
    )

    assert "Time off added." in response.text
    assert "Ana Silva" not in response.text
    assert "booked session" not in response.text
