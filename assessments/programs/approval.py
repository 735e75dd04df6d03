"""Approving a plan: the step that turns a draft into the client's program. Above the plans,
their emails and the reminders (it uses all three), so that none of them imports another
back.
"""

import datetime as dt
import zoneinfo

from django.db import transaction

from assessments.models import PROGRAM_KINDS, Plan, PlanStatus, Reminder, ReminderStatus
from assessments.programs.emails import program_email_queue
from assessments.programs.reminders import reminders_for_plan_replace
from assessments.programs.services import plan_lock_for_approval
from clinic.audit import RequestContext, audit_record_of
from clinic.models import AuditAction, User


def plan_approve(*, plan: Plan, actor: User, context: RequestContext, now: dt.datetime) -> Plan:
    """Approve the plan (or send an approved plan's changes): the client gets the program by
    email and the reminder schedule is (re)built. The program starts the next day on the
    client's calendar."""
    with transaction.atomic():
        plan = plan_lock_for_approval(plan, actor)
        first_send = not plan.is_approved
        if first_send:
            zone = zoneinfo.ZoneInfo(plan.client.time_zone)
            plan.status = PlanStatus.APPROVED
            plan.approved_at = now
            plan.approved_by = actor
            plan.starts_on = now.astimezone(zone).date() + dt.timedelta(days=1)
        plan.sent_revision = plan.revision
        plan.save(
            update_fields=["status", "approved_at", "approved_by", "starts_on", "sent_revision"]
        )
        # A newer program replaces the client's earlier ones: their reminders stop.
        Reminder.objects.filter(
            client=plan.client, status=ReminderStatus.PENDING, kind__in=PROGRAM_KINDS
        ).exclude(plan=plan).update(status=ReminderStatus.CANCELLED)
        reminders_for_plan_replace(plan=plan, now=now)
        audit_record_of(
            plan,
            "plan",
            actor=actor,
            action=AuditAction.UPDATED,
            context=context,
            changes=["status"] if first_send else ["revision"],
        )
        program_email_queue(plan, now=now)
    return plan
