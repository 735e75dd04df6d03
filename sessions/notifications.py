"""Emails about appointments: confirmation, reschedule and cancellation, with calendar invites."""

import zoneinfo
from enum import StrEnum

from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from clinic.mail import email_build
from sessions.calendar import appointment_ics
from sessions.links import absolute, join_url, manage_url
from sessions.models import Appointment


class AppointmentEvent(StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class Recipient(StrEnum):
    CLIENT = "client"
    CLINICIAN = "clinician"


def appointment_email(
    appointment: Appointment, *, event: AppointmentEvent, recipient: Recipient
) -> EmailMultiAlternatives:
    person = (
        appointment.client.user if recipient == Recipient.CLIENT else appointment.clinician.user
    )
    zone = zoneinfo.ZoneInfo(person.time_zone)
    method = "CANCEL" if event == AppointmentEvent.CANCELLED else "REQUEST"
    context = {
        "appointment": appointment,
        "event": event,
        "person": person,
        "time_zone": person.time_zone,
        "join_url": join_url(appointment),
        "manage_url": manage_url(appointment) if recipient == Recipient.CLIENT else "",
        "record_url": absolute(reverse("dashboard:client_record", args=[appointment.client.uuid])),
        "book_url": absolute(reverse("sessions:services")),
    }
    # Times in the email are on the reader's own clock.
    with timezone.override(zone):
        message = email_build(
            to=[person.email], template=f"appointment_{recipient}", context=context
        )
    ics = appointment_ics(appointment, method=method).decode()
    # Calendar clients act on the text/calendar part; the .ics file is for everyone else.
    message.attach_alternative(ics, f"text/calendar; method={method}")
    message.attach("invite.ics", ics, "application/ics")
    return message
