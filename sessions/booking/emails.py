"""Emails about appointments: confirmation, reschedule and cancellation, with calendar invites,
to the client and to the clinician. Each is owed from the change's commit (``AppointmentEmail``)
until the mail server accepted it; docs/booking.md ("Booking emails") says how none is lost."""

import datetime as dt
import zoneinfo

from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from clinic.emails import (
    RESEND_AFTER,
    Delivery,
    email_build,
    outgoing_email_send,
    outgoing_emails_resend,
)
from clinic.pages import page_url
from sessions.booking.calendar import appointment_ics
from sessions.booking.links import absolute, join_url, manage_url
from sessions.models import Appointment, AppointmentEmail, AppointmentEvent, ParticipantRole
from telehealth.tasks import queue_after_commit

# Queued by name (telehealth.tasks.task_named): the task calls this module back.
SEND_APPOINTMENT_EMAIL = "sessions.tasks.send_appointment_email"


def appointment_emails_queue(
    appointment: Appointment,
    *,
    event: AppointmentEvent,
    now: dt.datetime,
    previous_starts_at: dt.datetime | None = None,
) -> list[AppointmentEmail]:
    """In the change's transaction: both participants are owed an email about it, queued
    after the commit. A new time's emails say what the time was (``previous_starts_at``)."""
    emails = AppointmentEmail.objects.bulk_create(
        AppointmentEmail(
            appointment=appointment,
            recipient=recipient,
            sequence=appointment.sequence,
            event=event,
            previous_starts_at=previous_starts_at,
            created_at=now,
            retry_at=now + RESEND_AFTER,
        )
        for recipient in ParticipantRole
    )
    for email in emails:
        queue_after_commit(SEND_APPOINTMENT_EMAIL, *_task_arguments(email))
    return emails


def _task_arguments(email: AppointmentEmail) -> tuple[int, str, int, str]:
    return (email.appointment_id, email.event, email.sequence, email.recipient)


def appointment_email_deliver(
    *, appointment_id: int, recipient: ParticipantRole, sequence: int, now: dt.datetime
) -> Delivery:
    """Send the email owed to ``recipient`` about change ``sequence``, at most once; not when a
    later change owes its own (which carries the whole invitation)."""
    emails = AppointmentEmail.objects.filter(
        appointment_id=appointment_id, recipient=recipient, sequence=sequence
    )

    def build(email: AppointmentEmail) -> EmailMultiAlternatives | None:
        appointment = (
            Appointment.objects.select_related("service", "clinician__user", "client__user")
            .filter(pk=email.appointment_id)
            .first()
        )
        if appointment is None or appointment.sequence != email.sequence:
            return None
        return appointment_email(
            appointment,
            event=AppointmentEvent(email.event),
            recipient=recipient,
            previous_starts_at=email.previous_starts_at,
        )

    return outgoing_email_send(emails, build=build, now=now)


def appointment_emails_resend(*, now: dt.datetime) -> list[AppointmentEmail]:
    """Beat's sweep: queue again the emails of the latest change of appointments still to
    come that have not gone out (the broker was down after the commit, or the mail server
    refused until the task's retries ran out). An email about a session that has started
    helps nobody."""
    owed = AppointmentEmail.objects.filter(
        sequence=F("appointment__sequence"), appointment__starts_at__gt=now
    )
    return outgoing_emails_resend(
        owed,
        queue=lambda email: queue_after_commit(SEND_APPOINTMENT_EMAIL, *_task_arguments(email)),
        now=now,
    )


def long_time(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """As the emails show a time: "Tuesday 9 June 2026, 10:00 (Europe/Lisbon)"."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({zone.key})"


def appointment_email(
    appointment: Appointment,
    *,
    event: AppointmentEvent,
    recipient: ParticipantRole,
    previous_starts_at: dt.datetime | None = None,
) -> EmailMultiAlternatives:
    person = (
        appointment.client.user
        if recipient == ParticipantRole.CLIENT
        else appointment.clinician.user
    )
    zone = zoneinfo.ZoneInfo(person.time_zone)
    method = "CANCEL" if event == AppointmentEvent.CANCELLED else "REQUEST"
    # A new time says what it replaces, on the reader's clock, in the email and the invitation.
    moved_from = (
        long_time(previous_starts_at, zone)
        if event == AppointmentEvent.RESCHEDULED and previous_starts_at is not None
        else ""
    )
    context = {
        "appointment": appointment,
        "event": event,
        "previous_starts_at": previous_starts_at if moved_from else None,
        "person": person,
        "time_zone": person.time_zone,
        "join_url": join_url(appointment),
        "device_check_url": absolute(reverse("sessions:device_check")),
        "manage_url": manage_url(appointment) if recipient == ParticipantRole.CLIENT else "",
        "record_url": absolute(page_url("client_record", appointment.client.uuid)),
        "book_url": absolute(reverse("sessions:services")),
    }
    # Times in the email are on the reader's own clock.
    with timezone.override(zone):
        message = email_build(
            to=[person.email], template=f"appointment_{recipient}", context=context
        )
    ics = appointment_ics(
        appointment,
        method=method,
        note=f"Moved from {moved_from} to {long_time(appointment.starts_at, zone)}."
        if moved_from
        else "",
    ).decode()
    # Calendar clients act on the text/calendar part; the .ics file is for everyone else.
    message.attach_alternative(ics, f"text/calendar; method={method}")
    message.attach("invite.ics", ics, "application/ics")
    return message
