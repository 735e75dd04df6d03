"""Celery tasks of the assessments app: thin, idempotent, taking ids."""

import math
from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assessments.programs.emails import program_email_deliver, program_emails_resend, reminder_email
from assessments.programs.reminders import (
    appointment_reminders_sync,
    reminders_dispatch,
    reminders_due_count,
)
from assessments.programs.services import plan_generate as plan_generate_service
from assessments.programs.services import plans_propose_missing


@shared_task
def plan_generate(assessment_id: int) -> int | None:
    """After an assessment is completed: propose its follow-up plan for the clinician. Queued
    robustly after the commit (telehealth/tasks.py); ``propose_missing_plans`` makes up for a
    task that never reached the broker."""
    plan = plan_generate_service(assessment_id=assessment_id, now=timezone.now())
    return plan.pk if plan else None


@shared_task
def propose_missing_plans() -> dict[str, int]:
    """Every minute (beat): plans whose task never reached the broker (see
    programs.plans_propose_missing)."""
    return {"proposed": len(plans_propose_missing(now=timezone.now()))}


@shared_task(autoretry_for=(OSError, SMTPException), retry_backoff=True, max_retries=6)
def send_program_email(plan_id: int, revision: int) -> str:
    """After an approval: the program email of the revision sent, once."""
    return program_email_deliver(plan_id=plan_id, revision=revision, now=timezone.now()).value


@shared_task
def resend_program_emails() -> dict[str, int]:
    """Every minute (beat): program emails that did not go out (see
    emails.program_emails_resend)."""
    return {"queued": len(program_emails_resend(now=timezone.now()))}


@shared_task
def dispatch_reminders() -> dict[str, int]:
    """Every minute (beat): bring appointment reminders up to date, then send what is due.

    A large backlog (everyone's 08:00) is shared out: one more batch task per batch of due
    reminders, up to REMINDER_PARALLEL_TASKS in all, so that every worker can help; SKIP LOCKED
    keeps them from taking the same reminder.
    """
    synced = appointment_reminders_sync(now=timezone.now())
    due = reminders_due_count(now=timezone.now())
    extra = min(settings.REMINDER_PARALLEL_TASKS, math.ceil(due / settings.REMINDER_BATCH)) - 1
    for _ in range(max(0, extra)):
        dispatch_reminder_batch.delay()
    result = reminders_dispatch(
        now=timezone.now, build=reminder_email, limit=settings.REMINDER_BATCH
    )
    return {
        "created": synced.created,
        "cancelled": synced.cancelled + result.cancelled,
        "sent": result.sent,
        "retried": result.retried,
        "failed": result.failed,
        "helpers": max(0, extra),
    }


@shared_task
def dispatch_reminder_batch() -> dict[str, int]:
    """One more batch of due reminders, beside the minute's dispatch."""
    result = reminders_dispatch(
        now=timezone.now, build=reminder_email, limit=settings.REMINDER_BATCH
    )
    return {"sent": result.sent, "retried": result.retried, "failed": result.failed}
