"""The assessments' admin pages show health records: opening a list or a record there, and
changing one, is audited like the same action anywhere else in the application."""

import datetime as dt

import pytest
from django.urls import reverse

from assessments.models import Reminder, ReminderPreference, ReminderStatus
from assessments.programs.reminders import preference_for
from clinic.models import AuditEvent
from tests.admin_forms import admin_form_data
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan

pytestmark = pytest.mark.django_db
APPROVED = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def plan(client_record, clinician, library):
    return make_plan(
        client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=APPROVED
    )


def viewed(admin_user, object_type: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            actor_email=admin_user.email, action="viewed", object_type=object_type
        )
    )


def page(model: str, name: str, *args) -> str:
    return reverse(f"admin:assessments_{model}_{name}", args=args)


def test_assessments_and_plans_seen_in_the_admin_are_audited(as_admin, admin_user, plan) -> None:
    assessment = plan.assessment
    assert as_admin.get(page("assessment", "changelist")).status_code == 200
    [event] = viewed(admin_user, "assessment")
    assert (event.object_uuid, event.client_id) == (assessment.uuid, plan.client_id)
    assert as_admin.get(page("assessment", "change", assessment.pk)).status_code == 200
    assert len(viewed(admin_user, "assessment")) == 2

    assert as_admin.get(page("plan", "changelist")).status_code == 200
    assert as_admin.get(page("plan", "change", plan.pk)).status_code == 200
    # A phase's page shows the plan's exercises: it counts as seeing the plan.
    phase = plan.phases.first()
    assert as_admin.get(page("planphase", "changelist")).status_code == 200
    assert as_admin.get(page("planphase", "change", phase.pk)).status_code == 200
    events = viewed(admin_user, "plan")
    assert {event.object_uuid for event in events} == {plan.uuid}
    assert {event.client_id for event in events} == {plan.client_id}
    # The list audits each plan once, the phase list each phase's plan (three phases).
    assert len(events) == 1 + 1 + 3 + 1


def test_reminders_seen_in_the_admin_are_audited(as_admin, admin_user, plan) -> None:
    reminder = Reminder.objects.filter(plan=plan).order_by("due_at").first()
    assert as_admin.get(page("reminder", "change", reminder.pk)).status_code == 200
    [event] = viewed(admin_user, "reminder")
    assert (event.object_uuid, event.client_id) == (reminder.uuid, plan.client_id)
    response = as_admin.get(page("reminder", "changelist"))
    assert response.status_code == 200
    shown = len(response.context["cl"].result_list)
    assert len(viewed(admin_user, "reminder")) == 1 + shown


def test_a_reminder_time_changed_in_the_admin_is_audited_and_replans(
    as_admin, admin_user, plan, time_machine
) -> None:
    time_machine.move_to(APPROVED + dt.timedelta(hours=1), tick=False)
    preference = preference_for(plan.client)
    url = page("reminderpreference", "change", preference.pk)
    assert as_admin.get(url).status_code == 200
    assert viewed(admin_user, "client")[-1].object_uuid == plan.client.uuid
    data = admin_form_data(as_admin, url, local_time="18:30")
    response = as_admin.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ReminderPreference.objects.get().local_time == dt.time(18, 30)
    event = AuditEvent.objects.get(actor_email=admin_user.email, action="updated")
    assert (event.object_type, event.object_uuid) == ("client", plan.client.uuid)
    assert event.changes == ["local_time"]
    # The reminders still to come moved to 18:30 in London (17:30 UTC in summer).
    due = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).values_list(
        "due_at", flat=True
    )
    assert {moment.time() for moment in due} == {dt.time(17, 30)}
