"""Reads of assessments: who may see or change which, and what a page shows."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from assessments.models import (
    Assessment,
    AssessmentStatus,
    Exercise,
    Finding,
    PainLog,
    Plan,
    PlanItem,
    PlanPhase,
    PlanStatus,
    PracticeLog,
    ResultValue,
    Snapshot,
)
from assessments.protocols import PROTOCOLS, SIDE_LABELS, Field, Protocol, ValueAddress
from clinic.models import Client, Role, User
from sessions.booking.selectors import clients_visible_to
from sessions.models import Appointment


def assessments_visible_to(viewer: User) -> QuerySet[Assessment]:
    """Clinicians read the assessments of the clients they see, admins all, and a client
    their own once completed."""
    assessments = Assessment.objects.select_related(
        "client__user", "clinician__user", "appointment__service", "completed_by"
    )
    if viewer.role == Role.CLIENT:
        return assessments.filter(client__user=viewer, status=AssessmentStatus.COMPLETED)
    return assessments.filter(client__in=clients_visible_to(viewer))


def assessment_get_for_viewer(*, viewer: User, assessment_uuid: UUID) -> Assessment:
    assessment = assessments_visible_to(viewer).filter(uuid=assessment_uuid).first()
    if assessment is None:
        raise Http404("No such assessment")
    return assessment


def assessment_get_for_writer(*, writer: User, assessment_uuid: UUID) -> Assessment:
    """Only the clinician running an assessment may record in it."""
    assessment = (
        Assessment.objects.select_related("client__user", "clinician__user", "appointment")
        .filter(uuid=assessment_uuid, clinician__user=writer)
        .first()
    )
    if assessment is None:
        raise Http404("No such assessment")
    return assessment


@dataclass(frozen=True)
class Cell:
    """One input of the panel: a field of a test for one side and trial."""

    address: ValueAddress
    field: Field
    row: ResultValue | None

    @property
    def key(self) -> str:
        return self.address.key

    @property
    def value(self) -> Any:
        return self.row.value if self.row else None

    @property
    def version(self) -> int:
        return self.row.version if self.row else 0

    @property
    def display(self) -> str:
        return self.field.display(self.value)

    @property
    def input_value(self) -> str:
        """The value as an <input> or <select> holds it."""
        value = self.value
        if value is None:
            return ""
        if value is True:
            return "yes"
        if value is False:
            return "no"
        return str(value)

    @property
    def measured(self) -> bool:
        return bool(self.row and self.row.source == "video")

    @property
    def measured_with(self) -> str:
        """The pose model and its version a measured value came from ("" if not recorded)."""
        if not self.measured:
            return ""
        detail = self.row.measurement or {}
        return " ".join(str(part) for part in (detail.get("model"), detail.get("version")) if part)

    @property
    def label(self) -> str:
        trial = (
            f", trial {self.address.trial}" if PROTOCOLS[self.address.protocol].trials > 1 else ""
        )
        return f"{self.field.label}, {SIDE_LABELS[self.address.side].lower()}{trial}"


@dataclass(frozen=True)
class Column:
    side: str
    trial: int

    @property
    def label(self) -> str:
        return SIDE_LABELS[self.side]


@dataclass(frozen=True)
class Step:
    number: int
    protocol: Protocol
    columns: list[Column]
    # One row per field: the field and its cells in column order.
    rows: list[tuple[Field, list[Cell]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.protocol.key

    @property
    def recorded(self) -> int:
        return sum(1 for _, cells in self.rows for cell in cells if cell.value is not None)

    @property
    def trials(self) -> list[int]:
        return list(range(1, self.protocol.trials + 1))


def assessment_steps(assessment: Assessment) -> list[Step]:
    """Every test as the panel shows it, with what is recorded so far (one query)."""
    rows = {
        ValueAddress(row.protocol, row.side, row.trial, row.field): row
        for row in assessment.values.select_related("updated_by")
    }
    steps = []
    for number, protocol in enumerate(PROTOCOLS.values(), start=1):
        columns = [
            Column(side, trial)
            for trial in range(1, protocol.trials + 1)
            for side in ("left", "right")
        ]
        step = Step(number=number, protocol=protocol, columns=columns)
        for definition in protocol.all_fields:
            cells = []
            for column in columns:
                address = ValueAddress(protocol.key, column.side, column.trial, definition.key)
                cells.append(Cell(address=address, field=definition, row=rows.get(address)))
            step.rows.append((definition, cells))
        steps.append(step)
    return steps


# --- Plans ------------------------------------------------------------------------------------


def plans_visible_to(viewer: User) -> QuerySet[Plan]:
    plans = Plan.objects.select_related("client__user", "clinician__user", "assessment")
    if viewer.role == Role.CLIENT:
        return plans.filter(client__user=viewer, status=PlanStatus.APPROVED)
    return plans.filter(client__in=clients_visible_to(viewer))


def plan_get_for_viewer(*, viewer: User, plan_uuid: UUID) -> Plan:
    plan = plans_visible_to(viewer).filter(uuid=plan_uuid).first()
    if plan is None:
        raise Http404("No such plan")
    return plan


def plan_item_get_for_writer(*, writer: User, plan_uuid: UUID, item_uuid: UUID) -> PlanItem:
    """An item of a plan its writer may change (plan_get_for_writer's rule); 404 otherwise."""
    plan = plan_get_for_writer(writer=writer, plan_uuid=plan_uuid)
    item = (
        PlanItem.objects.select_related("phase", "exercise")
        .filter(uuid=item_uuid, phase__plan=plan)
        .first()
    )
    if item is None:
        raise Http404("No such exercise in this plan")
    return item


def exercise_by_uuid(value: str) -> Exercise | None:
    """An exercise of the library by the UUID a form sent (None if it is not one)."""
    try:
        UUID(str(value))
    except ValueError:
        return None
    return Exercise.objects.filter(uuid=value).first()


def plan_get_for_writer(*, writer: User, plan_uuid: UUID) -> Plan:
    plan = (
        Plan.objects.select_related("client__user", "clinician__user")
        .filter(uuid=plan_uuid, clinician__user=writer)
        .first()
    )
    if plan is None:
        raise Http404("No such plan")
    return plan


def client_programs(client: Client) -> QuerySet[Plan]:
    """The client's approved plans, the one they follow first: the most recently approved
    (approving a plan replaces the earlier program's reminders and emails; drafts and
    superseded plans were never sent to the client)."""
    return Plan.objects.filter(client=client, status=PlanStatus.APPROVED).order_by(
        "-approved_at", "-pk"
    )


def plan_current_for_client(client: Client) -> Plan | None:
    """The program the client follows (see client_programs)."""
    return client_programs(client).select_related("client__user", "clinician__user").first()


def plan_waiting_for_client(client: Client) -> Plan | None:
    """The plan of the client's latest assessment while it waits for approval. A newer
    assessment's plan supersedes older drafts, so there is at most one; superseded plans are
    history and never "waiting"."""
    return (
        Plan.objects.filter(client=client, status=PlanStatus.DRAFT)
        .select_related("clinician__user")
        .order_by("-assessment__completed_at", "-assessment_id")
        .first()
    )


@dataclass(frozen=True)
class PlanReview:
    phases: list[PlanPhase]
    items: list[PlanItem]
    findings: list[Finding]
    # Findings no item of the plan answers.
    unanswered: list[Finding]


def plan_for_review(plan: Plan) -> PlanReview:
    phases = list(
        plan.phases.prefetch_related(
            Prefetch("items", queryset=PlanItem.objects.select_related("exercise"))
        )
    )
    items = [item for phase in phases for item in phase.items.all()]
    findings = list(plan.assessment.findings.all())
    # An item removed from an approved program no longer answers anything.
    answered = {
        answer["identity"] for item in items if not item.is_removed for answer in item.answers
    }
    return PlanReview(
        phases=phases,
        items=items,
        findings=findings,
        unanswered=[finding for finding in findings if finding.identity not in answered],
    )


def snapshot_get_for_viewer(
    *, viewer: User, assessment_uuid: UUID, snapshot_uuid: UUID
) -> Snapshot:
    """A still image of an assessment the viewer may read (assessment_get_for_viewer's rule);
    404 otherwise."""
    assessment = assessment_get_for_viewer(viewer=viewer, assessment_uuid=assessment_uuid)
    snapshot = assessment.snapshots.filter(uuid=snapshot_uuid).first()
    if snapshot is None:
        raise Http404("No such snapshot")
    return snapshot


def assessment_fresh(assessment: Assessment) -> Assessment:
    """The assessment as it is now in the database, with its client."""
    return Assessment.objects.select_related("client").get(pk=assessment.pk)


def assessment_of_appointment(appointment: Appointment) -> Assessment | None:
    """The assessment run during an appointment, if one was started (for a caller that has
    already decided the viewer may see the appointment)."""
    return Assessment.objects.filter(appointment=appointment).first()


# --- The client's program (their own plan, or one an emailed link names) ---------------------


def program_day_logs(plan: Plan, day: dt.date) -> tuple[set[int], PainLog | None]:
    """What the client logged on a day: the items ticked off, and the pain rating."""
    done = set(PracticeLog.objects.filter(plan=plan, day=day).values_list("item_id", flat=True))
    return done, PainLog.objects.filter(plan=plan, day=day).first()


def plan_item_of(plan: Plan, item_uuid: str) -> PlanItem | None:
    """An item of ``plan`` by the UUID a form sent (None for one of another plan, or not a
    UUID at all)."""
    try:
        UUID(str(item_uuid))
    except ValueError:
        return None
    return PlanItem.objects.select_related("phase").filter(uuid=item_uuid, phase__plan=plan).first()


def plan_for_link(plan_uuid: UUID) -> Plan | None:
    """The plan an emailed link names (its signature already checked)."""
    return Plan.objects.select_related("client__user").filter(uuid=plan_uuid).first()


def plan_item_for_link(*, plan_uuid: UUID, item_uuid: UUID) -> PlanItem | None:
    """The item an emailed "done" link names, if it is still in that plan."""
    return (
        PlanItem.objects.select_related("phase__plan__client__user", "exercise")
        .filter(uuid=item_uuid, phase__plan__uuid=plan_uuid)
        .first()
    )
