"""Celery tasks of the assessments app: thin, idempotent, taking ids."""

from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from assessments.emails import program_email, reminder_email
from assessments.models import Plan
from assessments.programs import plan_generate as plan_generate_service
from assessments.reminders import appointment_reminders_sync, reminders_dispatch


@shared_task
def plan_generate(assessment_id: int) -> int | None:
    """After an assessment is completed: propose its follow-up plan for the clinician."""
    plan = plan_generate_service(assessment_id=assessment_id, now=timezone.now())
    return plan.pk if plan else None


@shared_task(autoretry_for=(OSError, SMTPException), retry_backoff=True, max_retries=6)
def send_program_email(plan_id: int, revision: int) -> None:
    plan = Plan.objects.select_related("client__user", "clinician__user").filter(pk=plan_id).first()
    # A later change raised the revision and sends its own, newer email.
    if plan is None or not plan.is_approved or plan.revision != revision:
        return
    program_email(plan).send()


@shared_task
def dispatch_reminders() -> dict[str, int]:
    """Every minute (beat): bring appointment reminders up to date, then send what is due."""
    synced = appointment_reminders_sync(now=timezone.now())
    result = reminders_dispatch(now=timezone.now, build=reminder_email)
    return {
        "created": synced.created,
        "cancelled": synced.cancelled + result.cancelled,
        "sent": result.sent,
        "retried": result.retried,
        "failed": result.failed,
    }
