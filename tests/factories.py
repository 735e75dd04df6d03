"""Plain functions that create realistic rows for tests."""

import datetime as dt
import functools
import itertools
from typing import Any

from django.contrib.auth.hashers import make_password

from clinic.models import Client, Clinician, DominantLeg, Profession, Role, User
from sessions.models import Appointment, AppointmentStatus, Service, WeeklyHours

_numbers = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    # Argon2 is slow on purpose; hash each test password once per run.
    return make_password(password)


def make_user(*, role: Role, time_zone: str = "Europe/London", **fields: Any) -> User:
    number = next(_numbers)
    fields.setdefault("email", f"{role}{number}@example.org")
    fields.setdefault("full_name", f"{role.label} {number}")
    password = fields.pop("password", None)
    user = User.objects.create_user(role=role, time_zone=time_zone, **fields)
    if password:
        user.password = _password_hash(password)
        user.save(update_fields=["password"])
    return user


def make_clinician(
    *,
    time_zone: str = "Europe/London",
    hours: tuple[dt.time, dt.time] | None = (dt.time(9), dt.time(17)),
    weekdays: range = range(7),
    **fields: Any,
) -> Clinician:
    fields.setdefault("password", "a-long-clinician-password")
    user = make_user(role=Role.CLINICIAN, time_zone=time_zone, **fields)
    clinician = Clinician.objects.create(user=user, profession=Profession.PHYSIOTHERAPIST)
    if hours is not None:
        WeeklyHours.objects.bulk_create(
            WeeklyHours(clinician=clinician, weekday=day, starts_at=hours[0], ends_at=hours[1])
            for day in weekdays
        )
    return clinician


def make_client(*, time_zone: str = "Europe/London", **fields: Any) -> Client:
    user = make_user(role=Role.CLIENT, time_zone=time_zone, **fields)
    return Client.objects.create(
        user=user,
        phone="+44 20 7946 0123",
        date_of_birth=dt.date(1990, 4, 2),
        dominant_leg=DominantLeg.RIGHT,
    )


def make_admin(**fields: Any) -> User:
    fields.setdefault("password", "a-long-admin-password")
    return make_user(role=Role.ADMIN, is_staff=True, is_superuser=True, **fields)


def make_service(*clinicians: Clinician, **fields: Any) -> Service:
    defaults: dict[str, Any] = {
        "name": "Virtual assessment",
        "duration_minutes": 45,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 15,
        "minimum_notice_minutes": 120,
        "booking_horizon_days": 60,
        "change_window_hours": 24,
        "slot_interval_minutes": 15,
    }
    service = Service.objects.create(**{**defaults, **fields})
    service.clinicians.add(*clinicians)
    return service


def make_appointment(
    *,
    service: Service,
    clinician: Clinician,
    client: Client,
    starts_at: dt.datetime,
    status: AppointmentStatus = AppointmentStatus.CONFIRMED,
) -> Appointment:
    return Appointment.objects.create(
        service=service,
        clinician=clinician,
        client=client,
        status=status,
        **service.appointment_times(starts_at),
    )
