"""The demo's history: assessments, a program under way, a plan waiting for approval."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from assessments.models import Assessment, Plan, PlanStatus, PracticeLog, Reminder
from clinic.models import User
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


def load() -> None:
    call_command("load_demo_clinic", stdout=io.StringIO())
    call_command("load_demo_progress", stdout=io.StringIO())


def test_the_demo_has_progress_to_show(library) -> None:
    load()
    assert Assessment.objects.filter(client__user__email="ben.carter@demo.clinic").count() == 2
    program = Plan.objects.get(client__user__email="ben.carter@demo.clinic")
    assert program.status == PlanStatus.APPROVED
    assert PracticeLog.objects.filter(plan=program).exists()
    # Nothing from the demo's past is queued to be sent.
    assert not Reminder.objects.filter(status="pending", due_at__lt=program.approved_at).exists()
    waiting = Plan.objects.get(client__user__email="dev.patel@demo.clinic")
    assert waiting.status == PlanStatus.DRAFT
    maya = signed_in(User.objects.get(email="maya.okafor@demo.clinic"))
    page = maya.get(reverse("dashboard:client_record", args=[program.client.uuid])).content
    assert b'id="chart-faber-faber_height_cm"' in page
    assert b'id="chart-adherence"' in page
    sam = signed_in(User.objects.get(email="sam.rivera@demo.clinic"))
    assert b"Dev Patel" in sam.get(reverse("dashboard:plans_waiting")).content
    # Again: nothing more.
    load()
    assert Assessment.objects.count() == 3
    assert Plan.objects.count() == 2
