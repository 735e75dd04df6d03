"""Emails of the home program: the approved program (with a PDF) and the reminders.

The program email is owed from the approval's commit (``ProgramEmail``) until the mail server
accepted it; docs/programs-and-reminders.md says how none is lost."""

import datetime as dt
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone

from assessments.models import (
    Plan,
    PlanPhase,
    PlanStatus,
    ProgramEmail,
    Reminder,
    ReminderKind,
    ReminderPreference,
)
from assessments.programs.links import done_url, pain_url, reminders_url, unsubscribe_url
from assessments.programs.pdf import program_pdf
from assessments.programs.reminders import reminder_time_for
from assessments.programs.services import plan_adherence, plan_schedule
from clinic.emails import (
    RESEND_AFTER,
    Delivery,
    email_build,
    outgoing_email_send,
    outgoing_emails_resend,
)
from sessions.booking.links import absolute, join_url
from sessions.models import AppointmentStatus
from telehealth.tasks import queue_after_commit

PAIN_SCORES = range(0, 11)
# A program email found unsent later than this is no longer news: the client has been using the
# program page (or asking the clinic) for a week.
PROGRAM_EMAIL_WITHIN = dt.timedelta(days=7)
# Queued by name (telehealth.tasks.task_named): the task calls this module back.
SEND_PROGRAM_EMAIL = "assessments.tasks.send_program_email"


def _item(item: Any) -> dict[str, Any]:
    exercise = item.exercise
    return {
        "uuid": str(item.uuid),
        "name": exercise.name,
        "dose": item.dose,
        "instructions": exercise.instructions,
        "cues": list(exercise.cues),
        "cautions": exercise.cautions,
        "finding": item.answers_text,
        "note": item.note,
    }


def _phase_dates(phase: PlanPhase, start: dt.date | None) -> str:
    if start is None:
        return f"weeks {phase.first_week}–{phase.last_week}"
    first, last = phase.starts_on(start), phase.ends_on(start)
    return f"{first:%-d %b} – {last:%-d %b %Y}"


def program_context(plan: Plan) -> dict[str, Any]:
    phases = []
    for phase in plan.phases.prefetch_related("items__exercise"):
        phases.append(
            {
                "number": phase.number,
                "title": phase.get_kind_display(),
                "dates": _phase_dates(phase, plan.starts_on),
                "frequency": phase.get_frequency_display(),
                "items": [_item(item) for item in phase.items.all() if not item.is_removed],
            }
        )
    reminder_time, reminders_active = reminder_time_for(plan.client)
    return {
        "plan": plan,
        "phases": phases,
        "program_url": absolute(reverse("assessments:program")),
        "reminders_url": reminders_url(client_uuid=str(plan.client.uuid)),
        "reminder_time": reminder_time,
        "reminders_active": reminders_active,
        "time_zone": plan.client.time_zone,
    }


def _list_unsubscribe(plan_or_client_uuid: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(client_uuid=plan_or_client_uuid)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def program_email(plan: Plan) -> EmailMultiAlternatives:
    person = plan.client.user
    context = {**program_context(plan), "person": person}
    with timezone.override(zoneinfo.ZoneInfo(person.time_zone)):
        message = email_build(to=[person.email], template="program", context=context)
    message.attach(
        "home-program.pdf",
        program_pdf(plan, clinic_name=settings.CLINIC_NAME, phases=context["phases"]),
        "application/pdf",
    )
    return message


def program_email_queue(plan: Plan, *, now: dt.datetime) -> None:
    """In the approval's transaction: the client is owed the program email of the revision
    just sent, queued after the commit. Once per revision: approving it again (a second
    click) sends nothing more."""
    _, created = ProgramEmail.objects.get_or_create(
        plan=plan,
        revision=plan.sent_revision,
        defaults={"created_at": now, "retry_at": now + RESEND_AFTER},
    )
    if created:
        queue_after_commit(SEND_PROGRAM_EMAIL, plan.pk, plan.sent_revision)


def _replaced_by_a_newer_program(plan: str = "") -> Exists:
    """The client of the plan (``plan`` is the path to it from the query's rows) has a program
    approved after it: their current one."""
    return Exists(
        Plan.objects.filter(
            client_id=OuterRef(f"{plan}client_id"),
            status=PlanStatus.APPROVED,
            approved_at__gt=OuterRef(f"{plan}approved_at"),
        )
    )


def program_email_deliver(*, plan_id: int, revision: int, now: dt.datetime) -> Delivery:
    """Send the program email of ``revision``, at most once; not when the clinician has sent a
    later revision (which owes its own) or the client has a newer program. The email is the
    program as it is now, as on the client's program page: changes made since approval and
    not yet sent are in it."""

    def build(email: ProgramEmail) -> EmailMultiAlternatives | None:
        plan = (
            Plan.objects.select_related("client__user", "clinician__user")
            .filter(pk=email.plan_id, status=PlanStatus.APPROVED, sent_revision=email.revision)
            .exclude(_replaced_by_a_newer_program())
            .first()
        )
        return None if plan is None else program_email(plan)

    emails = ProgramEmail.objects.filter(plan_id=plan_id, revision=revision)
    return outgoing_email_send(emails, build=build, now=now)


def program_emails_resend(*, now: dt.datetime) -> list[ProgramEmail]:
    """Beat's sweep: queue again the program emails of the last revision sent that have not
    gone out (the broker was down after the approval, or the mail server refused until the
    task's retries ran out), for a week."""
    owed = ProgramEmail.objects.filter(
        plan__status=PlanStatus.APPROVED,
        revision=F("plan__sent_revision"),
        created_at__gt=now - PROGRAM_EMAIL_WITHIN,
    ).exclude(_replaced_by_a_newer_program("plan__"))
    return outgoing_emails_resend(
        owed,
        queue=lambda email: queue_after_commit(SEND_PROGRAM_EMAIL, email.plan_id, email.revision),
        now=now,
    )


REMINDER_SUBJECTS = {
    ReminderKind.PRACTICE: "Today's exercises",
    ReminderKind.PHASE_START: "A new phase of your program starts today",
    ReminderKind.WEEKLY_CHECK_IN: "How did this week go?",
    ReminderKind.REASSESSMENT: "Time to book your re-assessment",
    ReminderKind.APPOINTMENT_24H: "Your session is tomorrow",
    ReminderKind.APPOINTMENT_1H: "Your session starts in an hour",
}


def _pain_links(plan: Plan, day: dt.date) -> list[dict[str, Any]]:
    return [
        {"score": score, "url": pain_url(plan_uuid=str(plan.uuid), day=day, score=score)}
        for score in PAIN_SCORES
    ]


def reminder_email(reminder: Reminder) -> EmailMultiAlternatives | None:
    """The email of a due reminder, or None when it should no longer go out."""
    client = reminder.client
    preference = ReminderPreference.objects.filter(client=client).first()
    if preference is not None and not preference.active:
        return None
    kind = ReminderKind(reminder.kind)
    person = client.user
    zone = zoneinfo.ZoneInfo(person.time_zone)
    context: dict[str, Any] = {
        "kind": kind.value,
        "person": person,
        "subject": REMINDER_SUBJECTS[kind],
        "reminders_url": reminders_url(client_uuid=str(client.uuid)),
        "program_url": absolute(reverse("assessments:program")),
        "book_url": absolute(reverse("sessions:services")),
    }
    if reminder.appointment_id:
        appointment = reminder.appointment
        if appointment.status != AppointmentStatus.CONFIRMED:
            return None
        context.update(appointment=appointment, join_url=join_url(appointment), time_zone=zone.key)
    else:
        plan = reminder.plan
        if plan.status != PlanStatus.APPROVED:
            return None
        day = reminder.day
        schedule = plan_schedule(plan)
        context.update(plan=plan, day=day)
        if kind in (ReminderKind.PRACTICE, ReminderKind.PHASE_START):
            scheduled = schedule.get(day)
            if scheduled is None:
                return None
            context.update(
                phase_title=scheduled.phase.get_kind_display(),
                phase_number=scheduled.phase.number,
                items=[
                    {
                        **_item(item),
                        "done_url": done_url(
                            plan_uuid=str(plan.uuid), item_uuid=str(item.uuid), day=day
                        ),
                    }
                    for item in scheduled.items
                ],
                pain_links=_pain_links(plan, day),
            )
        elif kind == ReminderKind.WEEKLY_CHECK_IN:
            weeks = plan_adherence(plan, today=day)
            if not weeks or not weeks[-1].planned:
                # A week whose exercises were all removed since: nothing to check in on.
                return None
            context.update(week=weeks[-1], pain_links=_pain_links(plan, day))
        elif kind == ReminderKind.REASSESSMENT:
            context.update(clinician=plan.clinician)
    with timezone.override(zone):
        message = email_build(
            to=[person.email],
            template="reminder",
            context=context,
            headers={
                **_list_unsubscribe(str(client.uuid)),
                # The same reminder always has the same id: mail programs show a repeat once.
                "Message-ID": f"<reminder-{reminder.uuid}@{_mail_host()}>",
            },
        )
    return message


def _mail_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"
