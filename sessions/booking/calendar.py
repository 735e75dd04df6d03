"""iCalendar (RFC 5545/5546) invitations for appointments."""

import datetime as dt
from email.utils import parseaddr
from typing import Literal

import icalendar
from django.conf import settings

from sessions.booking.links import calendar_uid, join_url
from sessions.models import Appointment

Method = Literal["REQUEST", "CANCEL"]


def _address(email: str, name: str, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email}")
    address.params["cn"] = icalendar.vText(name)
    for key, value in params.items():
        address.params[key] = icalendar.vText(value)
    return address


def appointment_ics(
    appointment: Appointment, *, method: Method, now: dt.datetime | None = None, note: str = ""
) -> bytes:
    """The invitation (REQUEST) or its withdrawal (CANCEL) at the appointment's SEQUENCE;
    ``note`` (such as what a new time replaces) opens the description."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{settings.CLINIC_NAME}//Telehealth//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)

    event = icalendar.Event()
    event.add("uid", calendar_uid(appointment))
    event.add("dtstamp", now or dt.datetime.now(dt.UTC))
    event.add("dtstart", appointment.starts_at.astimezone(dt.UTC))
    event.add("dtend", appointment.ends_at.astimezone(dt.UTC))
    event.add("sequence", appointment.sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("summary", f"{appointment.service.name} with {appointment.clinician.name}")
    link = join_url(appointment)
    event.add("location", link)
    event.add("url", link)
    event.add(
        "description",
        (f"{note}\n" if note else "")
        + f"Video session with {appointment.clinician.name} ({settings.CLINIC_NAME}).\n"
        f"Join from your browser: {link}",
    )
    organizer_name, organizer_email = parseaddr(settings.DEFAULT_FROM_EMAIL)
    event.add("organizer", _address(organizer_email, organizer_name or settings.CLINIC_NAME))
    for person in (appointment.client.user, appointment.clinician.user):
        event.add(
            "attendee",
            _address(
                person.email,
                person.full_name,
                role="REQ-PARTICIPANT",
                partstat="ACCEPTED",
                rsvp="FALSE",
            ),
        )
    calendar.add_component(event)
    return calendar.to_ical()
