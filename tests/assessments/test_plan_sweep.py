"""The sweep that proposes plans nobody proposed: when queueing plan generation failed after
the assessment's commit (the broker was down), beat finds the completed assessment without a
plan a few minutes later and proposes it, once."""

import datetime as dt
from collections.abc import Iterator

import pytest

from assessments.models import Plan, PlanStatus
from assessments.programs.services import PLAN_SWEEP_AFTER
from assessments.services import assessment_start_in_person
from assessments.tasks import propose_missing_plans
from clinic.audit import SYSTEM
from tests.assessments.conftest import ANKLE_AND_VALGUS, completed_assessment, record
from tests.broker import broker_refusing

pytestmark = pytest.mark.django_db
COMPLETED = dt.datetime(2026, 6, 8, 10, tzinfo=dt.UTC)


def completed_without_a_plan(client, clinician, *, at: dt.datetime):
    """A completed assessment whose plan task never reached the broker: in these tests the
    transaction is never committed, so its on-commit queueing never runs."""
    return completed_assessment(client=client, clinician=clinician, values=ANKLE_AND_VALGUS, now=at)


def test_a_completed_assessment_without_a_plan_gets_one_after_a_few_minutes(
    client_record, clinician, library, time_machine
) -> None:
    assessment = completed_without_a_plan(client_record, clinician, at=COMPLETED)
    assert not Plan.objects.exists()
    # Within the first minutes the task queued at completion may still be on its way.
    time_machine.move_to(COMPLETED + PLAN_SWEEP_AFTER - dt.timedelta(seconds=1), tick=False)
    assert propose_missing_plans() == {"proposed": 0}
    assert not Plan.objects.exists()
    time_machine.move_to(COMPLETED + PLAN_SWEEP_AFTER + dt.timedelta(seconds=30), tick=False)
    assert propose_missing_plans() == {"proposed": 1}
    plan = Plan.objects.get(assessment=assessment)
    assert plan.status == PlanStatus.DRAFT
    assert plan.phases.count() == 3
    # Idempotent: the next minute's run, or the late task itself, adds nothing.
    assert propose_missing_plans() == {"proposed": 0}
    from assessments.tasks import plan_generate

    assert plan_generate(assessment.pk) == plan.pk
    assert Plan.objects.count() == 1


def test_the_sweep_proposes_older_assessments_first_so_the_newest_plan_is_the_draft(
    client_record, clinician, library, time_machine
) -> None:
    first = completed_without_a_plan(client_record, clinician, at=COMPLETED)
    second = completed_without_a_plan(
        client_record, clinician, at=COMPLETED + dt.timedelta(hours=2)
    )
    time_machine.move_to(COMPLETED + dt.timedelta(hours=3), tick=False)
    assert propose_missing_plans() == {"proposed": 2}
    assert Plan.objects.get(assessment=first).status == PlanStatus.SUPERSEDED
    assert Plan.objects.get(assessment=second).status == PlanStatus.DRAFT


def test_assessments_completed_long_ago_are_left_alone(
    client_record, clinician, library, time_machine
) -> None:
    # History from before plans were proposed (the demo clinic's first assessment of Ben) is
    # not turned into new drafts.
    completed_without_a_plan(client_record, clinician, at=COMPLETED)
    time_machine.move_to(COMPLETED + dt.timedelta(days=8), tick=False)
    assert propose_missing_plans() == {"proposed": 0}
    assert not Plan.objects.exists()


@pytest.fixture
def broker_down() -> Iterator[None]:
    with broker_refusing():
        yield


def test_completing_while_the_broker_is_down_still_completes_and_the_sweep_proposes(
    as_clinician,
    clinician,
    session_assessment,
    django_capture_on_commit_callbacks,
    broker_down,
    caplog,
    time_machine,
) -> None:
    from django.urls import reverse

    time_machine.move_to(COMPLETED, tick=False)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = as_clinician.post(
            reverse("assessments:complete", args=[session_assessment.uuid])
        )
    # The clinician sees the completed assessment, not an error page: the queueing failed after
    # the commit, is logged, and nothing else depends on it.
    assert response.status_code in (200, 302)
    assert queued, "completion asked for the plan after its commit"
    session_assessment.refresh_from_db()
    assert session_assessment.status == "completed"
    assert "queueing assessments.tasks.plan_generate" in caplog.text
    assert not Plan.objects.exists()
    # A few minutes later beat's sweep proposes the plan nobody queued.
    time_machine.move_to(COMPLETED + PLAN_SWEEP_AFTER + dt.timedelta(seconds=30), tick=False)
    assert propose_missing_plans() == {"proposed": 1}
    assert Plan.objects.get(assessment=session_assessment).status == PlanStatus.DRAFT


@pytest.fixture
def session_assessment(client_record, clinician, library, appointment):
    assessment = assessment_start_in_person(
        client=client_record,
        clinician=clinician,
        actor=clinician.user,
        context=SYSTEM,
        now=COMPLETED,
    )
    record(assessment, clinician.user, {"knee_to_wall.right.1.ktw_cm": 8}, now=COMPLETED)
    return assessment
