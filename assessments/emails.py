"""Emails of the home program: the approved program (with a PDF) and the reminders."""

import datetime as dt
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from assessments.links import done_url, pain_url, reminders_url, unsubscribe_url
from assessments.models import (
    Plan,
    PlanPhase,
    PlanStatus,
    Reminder,
    ReminderKind,
    ReminderPreference,
)
from assessments.pdf import program_pdf
from assessments.programs import plan_adherence, plan_schedule
from assessments.reminders import reminder_time_for
from clinic.mail import email_build
from sessions.links import absolute, join_url
from sessions.models import AppointmentStatus

PAIN_SCORES = range(0, 11)


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
