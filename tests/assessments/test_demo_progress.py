"""The demo's history: assessments, a program under way, a plan waiting for approval."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from assessments.models import Assessment, Plan, PlanStatus, PracticeLog, Reminder
from clinic.models import Client, User
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


def load() -> None:
    call_command("load_demo_clinic", stdout=io.StringIO())
    call_command("load_demo_progress", stdout=io.StringIO())


def test_the_demo_has_progress_to_show(library, django_capture_on_commit_callbacks) -> None:
    # What the demo's worker does next (plan tasks, emails) runs too, as it would there.
    with django_capture_on_commit_callbacks(execute=True):
        load()
    ben = Client.objects.get(user__email="ben.carter@demo.clinic")
    assert Assessment.objects.filter(client=ben).count() == 2
    # Each assessment has its program; the second replaced the first.
    first, program = Plan.objects.filter(client=ben).order_by("assessment__completed_at")
    assert (first.status, program.status) == (PlanStatus.APPROVED, PlanStatus.APPROVED)
    assert first.approved_at < program.approved_at
    assert PracticeLog.objects.filter(plan=program).exists()
    # Nothing from the demo's past is queued to be sent, nor anything of the earlier program.
    assert not Reminder.objects.filter(status="pending", due_at__lt=program.approved_at).exists()
    assert not Reminder.objects.filter(status="pending", plan=first).exists()
    waiting = Plan.objects.get(client__user__email="dev.patel@demo.clinic")
    assert waiting.status == PlanStatus.DRAFT
    maya = signed_in(User.objects.get(email="maya.okafor@demo.clinic"))
    page = maya.get(reverse("dashboard:client_record", args=[ben.uuid])).content.decode()
    assert 'id="chart-faber-faber_height_cm"' in page
    assert 'id="chart-adherence"' in page
    # Ben's page shows the program he follows, which is also the one on his own page.
    section = page.split('id="plan-heading"')[1].split('id="progress-heading"')[0]
    assert f'<a href="{reverse("assessments:plan", args=[program.uuid])}">Program from' in section
    assert reverse("assessments:plan", args=[first.uuid]) not in section
    assert "waiting for approval" not in section
    own = signed_in(ben.user).get(reverse("assessments:program")).content.decode()
    assert f'action="{reverse("assessments:program_pain", args=[program.uuid])}"' in own
    sam = signed_in(User.objects.get(email="sam.rivera@demo.clinic"))
    assert b"Dev Patel" in sam.get(reverse("dashboard:plans_waiting")).content
    # Again: nothing more.
    load()
    assert Assessment.objects.count() == 3
    assert Plan.objects.count() == 3
