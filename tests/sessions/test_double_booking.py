"""Double booking is impossible: the PostgreSQL exclusion constraint decides races."""

import datetime as dt
from functools import partial

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from clinic.audit import SYSTEM
from clinic.models import User
from sessions.booking.links import manage_token
from sessions.booking.selectors import SlotState
from sessions.booking.services import SlotUnavailable, appointment_book
from sessions.models import Appointment, AppointmentStatus
from tests import factories
from tests.concurrency import at_once
from tests.conftest import MONDAY_MORNING
from tests.sessions.booking_helpers import booking_data, details_url, iso

START = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(
    days=2
)


@pytest.mark.django_db
def test_the_database_refuses_overlapping_appointments_of_one_clinician(
    service, clinician, other_clinician, client_record, other_client_record
) -> None:
    factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=START
    )

    # Overlapping the 15 minute buffer after the first appointment is enough to be refused.
    with pytest.raises(IntegrityError, match="appointment_no_overlap"), transaction.atomic():
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=other_client_record,
            starts_at=START + dt.timedelta(minutes=50),
        )

    # Another clinician, a later time, or a cancelled row do not conflict.
    factories.make_appointment(
        service=service, clinician=other_clinician, client=other_client_record, starts_at=START
    )
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=other_client_record,
        starts_at=START + dt.timedelta(hours=1),
    )
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=other_client_record,
        starts_at=START,
        status=AppointmentStatus.CANCELLED,
    )
    assert Appointment.objects.count() == 4


def race(attempts: list[dict]) -> tuple[list[Appointment], list[Exception]]:
    """Run appointment_book for every attempt at the same moment, each on its own connection."""
    return at_once(
        [partial(appointment_book, actor=None, context=SYSTEM, **kwargs) for kwargs in attempts]
    )


@pytest.mark.django_db(transaction=True)
def test_many_simultaneous_bookings_of_one_slot_make_exactly_one_appointment(
    service, clinician
) -> None:
    clients = [factories.make_client() for _ in range(12)]

    booked, failed = race(
        [
            {"service": service, "clinician": clinician, "client": client, "starts_at": START}
            for client in clients
        ]
    )

    assert len(booked) == 1
    assert len(failed) == 11
    assert all(isinstance(error, SlotUnavailable) for error in failed), failed
    assert Appointment.objects.filter(clinician=clinician).count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_bookings_of_overlapping_times_make_one_appointment(
    service, clinician
) -> None:
    # 45 minute sessions with a 15 minute buffer: starts 15 minutes apart all overlap.
    starts = [START + dt.timedelta(minutes=15 * step) for step in range(4)] * 3
    clients = [factories.make_client() for _ in starts]

    booked, failed = race(
        [
            {"service": service, "clinician": clinician, "client": client, "starts_at": start}
            for client, start in zip(clients, starts, strict=True)
        ]
    )

    assert len(booked) == 1
    assert all(isinstance(error, SlotUnavailable) for error in failed), failed
    assert Appointment.objects.filter(clinician=clinician).count() == 1


# --- When the application's check is bypassed, the constraint still decides ----------------

TEN_AM_LONDON = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def check_passes_everything(monkeypatch):
    """The check under the schedule lock says yes to every time, as it would for two writers
    that both looked before either wrote (a writer that skipped the lock, say). Only the
    exclusion constraint is left to refuse the second appointment."""
    monkeypatch.setattr("sessions.booking.services.slot_state", lambda **_: SlotState.FREE)


@pytest.mark.django_db
def test_a_booking_refused_by_the_constraint_gets_fresh_times_not_an_error(
    as_stranger, service, clinician, other_client_record, check_passes_everything
) -> None:
    with time_machine.travel(MONDAY_MORNING, tick=False):
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=other_client_record,
            starts_at=TEN_AM_LONDON,
        )

        # 10:30 overlaps the 10:00 session; only the constraint knows.
        half_past = TEN_AM_LONDON + dt.timedelta(minutes=30)
        response = as_stranger.post(details_url(service, clinician), booking_data(half_past))

    assert response.status_code == 409
    assert "this time was just taken" in response.text
    assert 'value="Carla Nunes"' in response.text
    # Fresh times, computed without the bypassed check: the next free start is 11:00.
    assert f'value="{iso(TEN_AM_LONDON + dt.timedelta(hours=1))}"' in response.text
    assert f'value="{iso(half_past)}"' not in response.text
    assert Appointment.objects.filter(clinician=clinician).count() == 1
    # The booking was one transaction: no client, intake or consent left behind.
    assert not User.objects.filter(email="carla@example.org").exists()


@pytest.mark.django_db
def test_a_reschedule_refused_by_the_constraint_keeps_the_old_time(
    as_stranger, service, clinician, client_record, other_client_record, check_passes_everything
) -> None:
    with time_machine.travel(MONDAY_MORNING, tick=False):
        tuesday = TEN_AM_LONDON + dt.timedelta(days=1)
        mine = factories.make_appointment(
            service=service, clinician=clinician, client=client_record, starts_at=tuesday
        )
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=other_client_record,
            starts_at=tuesday + dt.timedelta(hours=2),
        )

        response = as_stranger.post(
            reverse("sessions:manage_reschedule", args=[manage_token(mine)]),
            {"start": iso(tuesday + dt.timedelta(hours=2, minutes=15)), "confirm": "yes"},
        )

    assert response.status_code == 409
    assert "this time was just taken" in response.text
    mine.refresh_from_db()
    assert mine.starts_at == tuesday
    assert mine.sequence == 0
