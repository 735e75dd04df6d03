"""Shared steps for booking tests: valid form data and the booking URLs."""

import datetime as dt
from typing import Any

from django.urls import reverse

from clinic.models import Clinician
from sessions.models import Service


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def details_url(service: Service, clinician: Clinician, start: dt.datetime | None = None) -> str:
    url = reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={clinician.uuid}"
    if start is not None:
        url += f"&start={iso(start)}"
    return url


def booking_data(start: dt.datetime, /, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": iso(start),
        "full_name": "Carla Nunes",
        "email": "carla@example.org",
        "phone": "+351 21 000 0000",
        "date_of_birth": "1987-09-14",
        "time_zone": "Europe/Lisbon",
        "dominant_leg": "right",
        "emergency_contact_name": "Rui Nunes",
        "emergency_contact_phone": "+351 21 000 0001",
        "knee_pain_side": "left",
        "pain_duration": "6_to_12_weeks",
        "pain_now": "5",
        "aggravating_activities": ["stairs", "running"],
        "aggravating_other": "",
        "previous_injuries": "Sprained left ankle in 2021",
        "consent_telehealth": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
