from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from sessions.models import Appointment
from sessions.notifications import AppointmentEvent, Recipient, appointment_email
from sessions.room import rooms_close_finished


@shared_task(autoretry_for=(OSError, SMTPException), retry_backoff=True, max_retries=6)
def send_appointment_email(appointment_id: int, event: str, sequence: int, recipient: str) -> None:
    appointment = (
        Appointment.objects.select_related("service", "clinician__user", "client__user")
        .filter(pk=appointment_id)
        .first()
    )
    # A later change raised the sequence and sends its own, newer email.
    if appointment is None or appointment.sequence != sequence:
        return
    appointment_email(
        appointment, event=AppointmentEvent(event), recipient=Recipient(recipient)
    ).send()


@shared_task
def close_finished_rooms() -> int:
    """Every minute (beat): settle sessions whose room closed without being ended."""
    return rooms_close_finished(now=timezone.now())
