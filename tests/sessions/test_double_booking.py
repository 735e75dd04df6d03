"""Double booking is impossible: the PostgreSQL exclusion constraint decides races."""

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.audit import SYSTEM
from sessions.models import Appointment, AppointmentStatus
from sessions.services import SlotUnavailable, appointment_book
from tests import factories

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
    barrier = threading.Barrier(len(attempts))
    booked: list[Appointment] = []
    failed: list[Exception] = []
    lock = threading.Lock()

    def attempt(kwargs: dict) -> None:
        try:
            barrier.wait(timeout=30)
            appointment = appointment_book(actor=None, context=SYSTEM, **kwargs)
            with lock:
                booked.append(appointment)
        except Exception as error:
            with lock:
                failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(kwargs,)) for kwargs in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return booked, failed


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
