from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from sessions.booking.emails import appointment_email_deliver, appointment_emails_resend
from sessions.models import ParticipantRole
from sessions.room.services import room_seats_release_stale, rooms_close_finished


@shared_task(autoretry_for=(OSError, SMTPException), retry_backoff=True, max_retries=6)
def send_appointment_email(appointment_id: int, event: str, sequence: int, recipient: str) -> str:
    """After a booking, a new time or a cancellation (``event``, kept for the worker's log: the
    owed email row has it): the email to one participant, once."""
    return appointment_email_deliver(
        appointment_id=appointment_id,
        recipient=ParticipantRole(recipient),
        sequence=sequence,
        now=timezone.now(),
    ).value


@shared_task
def resend_appointment_emails() -> dict[str, int]:
    """Every minute (beat): booking emails that did not go out (see
    notifications.appointment_emails_resend)."""
    return {"queued": len(appointment_emails_resend(now=timezone.now()))}


@shared_task
def close_finished_rooms() -> int:
    """Every minute (beat): settle sessions whose room closed without being ended."""
    return rooms_close_finished(now=timezone.now())


@shared_task
def release_stale_seats() -> int:
    """Every minute (beat): give up the room seats of consumers that died without leaving."""
    return room_seats_release_stale(now=timezone.now())
