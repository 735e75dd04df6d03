"""Home programs: generating the follow-up plan, the clinician's review and approval, and what
the client logs (exercises done, pain). Each change is one transaction with its audit row;
emails and reminders follow after commit."""

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from assessments.models import (
    Assessment,
    AssessmentStatus,
    Exercise,
    Frequency,
    LogSource,
    PainLog,
    PhaseKind,
    Plan,
    PlanItem,
    PlanPhase,
    PlanStatus,
    PracticeLog,
)
from assessments.programs.planner import FindingForPlan, LibraryExercise, plan_propose
from clinic.audit import SYSTEM, RequestContext, audit_record_of
from clinic.models import AuditAction, Client, User

logger = logging.getLogger(__name__)


class PlanError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def library_exercise(exercise: Exercise) -> LibraryExercise:
    """The library row as the planner reads it."""
    return LibraryExercise(
        id=exercise.pk,
        slug=exercise.slug,
        name=exercise.name,
        phase=exercise.phase,
        targets=tuple(exercise.targets),
        position=exercise.position,
        maintenance=exercise.maintenance,
    )


def _library() -> list[LibraryExercise]:
    return [library_exercise(exercise) for exercise in Exercise.objects.filter(is_active=True)]


def plan_generate(*, assessment_id: int, now: dt.datetime) -> Plan | None:
    """Propose the follow-up plan of a completed assessment (once; later calls return it)."""
    with transaction.atomic():
        assessment = (
            Assessment.objects.select_for_update(of=("self",))
            .select_related("client", "clinician")
            .get(pk=assessment_id)
        )
        if not assessment.is_locked:
            return None
        existing = Plan.objects.filter(assessment=assessment).first()
        if existing is not None:
            return existing
        # One plan generation at a time per client, so two assessments completed together
        # agree on which of their plans is the newer.
        Client.objects.select_for_update().filter(pk=assessment.client_id).first()
        findings = [
            FindingForPlan(identity=f.identity, title=f.title, targets=tuple(f.targets))
            for f in assessment.findings.all()
        ]
        proposal = plan_propose(findings, _library())
        summary = proposal.summary
        if proposal.unanswered:
            summary += (
                " Not answered by an exercise: "
                + "; ".join(finding.title for finding in proposal.unanswered)
                + "."
            )
        plan = Plan.objects.create(
            assessment=assessment,
            client=assessment.client,
            clinician=assessment.clinician,
            maintenance=proposal.maintenance,
            summary=summary,
            generated_at=now,
            reassessment_week=proposal.reassessment_week,
        )
        exercises = Exercise.objects.in_bulk(
            [i.exercise.id for p in proposal.phases for i in p.items]
        )
        for number, proposed in enumerate(proposal.phases, start=1):
            phase = PlanPhase.objects.create(
                plan=plan,
                number=number,
                kind=proposed.default.kind,
                first_week=proposed.default.first_week,
                weeks=proposed.default.weeks,
                frequency=proposed.default.frequency,
            )
            PlanItem.objects.bulk_create(
                PlanItem(
                    phase=phase,
                    exercise=exercises[item.exercise.id],
                    position=position,
                    sets=exercises[item.exercise.id].sets,
                    reps=exercises[item.exercise.id].reps,
                    hold_seconds=exercises[item.exercise.id].hold_seconds,
                    findings=[{"identity": f.identity, "title": f.title} for f in item.findings],
                )
                for position, item in enumerate(proposed.items)
            )
        audit_record_of(plan, "plan", actor=None, action=AuditAction.CREATED, context=SYSTEM)
        _drafts_supersede(plan, now=now)
    return plan


# The plan task is queued when the assessment commits; one that never reached the broker is
# made up for by the sweep once the task would surely have run. Assessments completed before
# the window are history (from before plans were proposed), not a missed task.
PLAN_SWEEP_AFTER = dt.timedelta(minutes=5)
PLAN_SWEEP_WITHIN = dt.timedelta(days=7)
PLAN_SWEEP_BATCH = 100


def plans_propose_missing(*, now: dt.datetime) -> list[Plan]:
    """Propose the plans of recently completed assessments that have none, oldest first (so a
    client's newest assessment ends up with the draft). Idempotent, like ``plan_generate``."""
    missing = (
        Assessment.objects.filter(
            status=AssessmentStatus.COMPLETED,
            completed_at__lte=now - PLAN_SWEEP_AFTER,
            completed_at__gt=now - PLAN_SWEEP_WITHIN,
            plan__isnull=True,
        )
        .order_by("completed_at", "pk")
        .values_list("pk", flat=True)[:PLAN_SWEEP_BATCH]
    )
    proposed = []
    for assessment_id in list(missing):
        plan = plan_generate(assessment_id=assessment_id, now=now)
        # A late task may have proposed it meanwhile: plan_generate then returns that one.
        if plan is not None and plan.generated_at == now:
            logger.warning("Proposed the missing plan of assessment %s", plan.assessment.uuid)
            proposed.append(plan)
    return proposed


def _completed_order(plan: Plan) -> tuple[dt.datetime, int]:
    assert plan.assessment.completed_at is not None
    return plan.assessment.completed_at, plan.assessment_id


def _drafts_supersede(plan: Plan, *, now: dt.datetime) -> None:
    """A client's plans follow their assessments: the draft of an earlier assessment is
    superseded by the new plan (kept, out of the approval queue), and a plan proposed late for
    an assessment older than another plan's is superseded by the newest one from the start.
    Approved plans stay: the client's program changes only when a clinician approves."""
    others = list(
        Plan.objects.select_for_update(of=("self",))
        .select_related("assessment")
        .filter(client_id=plan.client_id)
        .exclude(pk=plan.pk)
        .exclude(status=PlanStatus.SUPERSEDED)
    )
    newer = [other for other in others if _completed_order(other) > _completed_order(plan)]
    if newer:
        _supersede(plan, by=max(newer, key=_completed_order), now=now)
        return
    for other in others:
        if other.status == PlanStatus.DRAFT:
            _supersede(other, by=plan, now=now)


def _supersede(plan: Plan, *, by: Plan, now: dt.datetime) -> None:
    plan.status = PlanStatus.SUPERSEDED
    plan.superseded_by = by
    plan.superseded_at = now
    plan.save(update_fields=["status", "superseded_by", "superseded_at"])
    audit_record_of(
        plan, "plan", actor=None, action=AuditAction.UPDATED, context=SYSTEM, changes=["status"]
    )


# --- The clinician's review -----------------------------------------------------------------


def _locked_plan(plan_id: int) -> Plan:
    return (
        Plan.objects.select_for_update(of=("self",))
        .select_related("client__user", "clinician__user")
        .get(pk=plan_id)
    )


def _check_clinician(plan: Plan, actor: User) -> None:
    if plan.clinician.user_id != actor.pk:
        raise PlanError("Only the clinician who ran the assessment can change its plan.")


def _changed(plan: Plan) -> None:
    """An approved plan that changes needs sending again."""
    if plan.is_approved:
        plan.revision += 1
        plan.save(update_fields=["revision"])


def _check_open(plan: Plan) -> None:
    if plan.is_superseded:
        raise PlanError(
            "A newer plan replaced this draft: review the newer one instead. This one is kept "
            "as it was."
        )


def _item_for_change(item_id: int, actor: User) -> tuple[Plan, PlanItem]:
    """The item, re-read under its plan's lock; refused when it may not change."""
    plan_id = PlanItem.objects.filter(pk=item_id).values_list("phase__plan_id", flat=True).get()
    plan = _locked_plan(plan_id)
    _check_clinician(plan, actor)
    _check_open(plan)
    item = PlanItem.objects.select_related("phase", "exercise").get(pk=item_id)
    if item.is_removed:
        raise PlanError(
            f"{item.exercise.name} was already removed from the program on "
            f"{item.removed_on:%A %-d %B}."
        )
    return plan, item


def _retire(item: PlanItem, *, plan: Plan, now: dt.datetime) -> None:
    """Take an item out of an approved program from today on the client's calendar. The row
    stays, so what the client logged of it, and the adherence of the days before, stay too."""
    item.removed_on = client_today(plan, now)
    item.removed_at = now
    item.save(update_fields=["removed_on", "removed_at"])


@transaction.atomic
def plan_item_move(*, item: PlanItem, actor: User, up: bool, context: RequestContext) -> None:
    plan, item = _item_for_change(item.pk, actor)
    siblings = list(item.phase.items.filter(removed_on__isnull=True).order_by("position", "id"))
    index = siblings.index(item)
    target = index - 1 if up else index + 1
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    positions = sorted(sibling.position for sibling in siblings)
    if len(set(positions)) != len(positions):
        positions = list(range(len(siblings)))
    for position, sibling in zip(positions, siblings, strict=True):
        if sibling.position != position:
            sibling.position = position
            sibling.save(update_fields=["position"])
    _changed(plan)
    audit_record_of(
        plan, "plan", actor=actor, action=AuditAction.UPDATED, context=context, changes=["order"]
    )


@transaction.atomic
def plan_item_swap(
    *, item: PlanItem, exercise: Exercise, actor: User, context: RequestContext, now: dt.datetime
) -> PlanItem:
    """Another exercise of the same phase in place of this one, at its default dose. In an
    approved program the old item is retired and a new one takes its place, so the client's
    logs keep naming the exercise they did."""
    plan, item = _item_for_change(item.pk, actor)
    fits = item.phase.kind == PhaseKind.MAINTAIN or exercise.phase == item.phase.kind
    if not exercise.is_active or not fits:
        raise PlanError("Choose an exercise of this phase from the library.")
    current = item.phase.items.filter(removed_on__isnull=True).exclude(pk=item.pk)
    if current.filter(exercise=exercise).exists():
        raise PlanError(f"{exercise.name} is already in this phase.")
    if plan.is_approved:
        _retire(item, plan=plan, now=now)
        item = PlanItem.objects.create(
            phase=item.phase,
            added_on=item.removed_on,
            exercise=exercise,
            position=item.position,
            sets=exercise.sets,
            reps=exercise.reps,
            hold_seconds=exercise.hold_seconds,
            findings=item.findings,
            note=item.note,
        )
    else:
        item.exercise = exercise
        item.sets, item.reps = exercise.sets, exercise.reps
        item.hold_seconds = exercise.hold_seconds
        item.save(update_fields=["exercise", "sets", "reps", "hold_seconds"])
    _changed(plan)
    audit_record_of(
        plan, "plan", actor=actor, action=AuditAction.UPDATED, context=context, changes=["exercise"]
    )
    return item


def swap_choices(item: PlanItem) -> list[Exercise]:
    """The library's exercises that may replace an item (the maintenance phase takes any)."""
    exercises = Exercise.objects.filter(is_active=True)
    if item.phase.kind != PhaseKind.MAINTAIN:
        exercises = exercises.filter(phase=item.phase.kind)
    return list(exercises.exclude(pk=item.exercise_id))


@transaction.atomic
def plan_item_dose(
    *,
    item: PlanItem,
    sets: int,
    amount: int,
    actor: User,
    context: RequestContext,
) -> PlanItem:
    """New sets and reps (or seconds of hold, for a held exercise)."""
    plan, item = _item_for_change(item.pk, actor)
    if not 1 <= sets <= 10:
        raise PlanError("Sets must be from 1 to 10.")
    if item.hold_seconds is not None:
        if not 5 <= amount <= 300:
            raise PlanError("A hold must be from 5 to 300 seconds.")
        item.hold_seconds = amount
    else:
        if not 1 <= amount <= 50:
            raise PlanError("Repetitions must be from 1 to 50.")
        item.reps = amount
    item.sets = sets
    item.save(update_fields=["sets", "reps", "hold_seconds"])
    _changed(plan)
    audit_record_of(
        plan, "plan", actor=actor, action=AuditAction.UPDATED, context=context, changes=["dose"]
    )
    return item


@transaction.atomic
def plan_item_remove(
    *, item: PlanItem, actor: User, context: RequestContext, now: dt.datetime
) -> None:
    """Out of a draft an item goes; out of an approved program it is retired (see _retire)."""
    plan, item = _item_for_change(item.pk, actor)
    if plan.is_approved:
        _retire(item, plan=plan, now=now)
    else:
        item.delete()
    _changed(plan)
    audit_record_of(
        plan, "plan", actor=actor, action=AuditAction.UPDATED, context=context, changes=["items"]
    )


@transaction.atomic
def plan_note_set(*, plan: Plan, note: str, actor: User, context: RequestContext) -> Plan:
    plan = _locked_plan(plan.pk)
    _check_clinician(plan, actor)
    _check_open(plan)
    if plan.note != note:
        plan.note = note
        plan.save(update_fields=["note"])
        _changed(plan)
        audit_record_of(
            plan, "plan", actor=actor, action=AuditAction.UPDATED, context=context, changes=["note"]
        )
    return plan


def plan_lock_for_approval(plan: Plan, actor: User) -> Plan:
    """In the approval's transaction (assessments.programs.approval.plan_approve): the plan,
    locked and checked as one ``actor`` may approve: their own, not a superseded draft, with at
    least one exercise not removed."""
    plan = _locked_plan(plan.pk)
    _check_clinician(plan, actor)
    _check_open(plan)
    if not PlanItem.objects.filter(phase__plan=plan, removed_on__isnull=True).exists():
        raise PlanError("The plan has no exercises: add or keep at least one.")
    return plan


def plan_empty_phases(plan: Plan) -> list[PlanPhase]:
    """Phases without an exercise still in them (see PlanPhase.is_empty)."""
    return [phase for phase in plan.phases.prefetch_related("items") if phase.is_empty]


def plan_has_unsent_changes(plan: Plan) -> bool:
    return plan.is_approved and plan.revision > plan.sent_revision


# --- The schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: dt.date
    phase: PlanPhase
    items: list[PlanItem]


def phase_days(phase: PlanPhase, start: dt.date) -> list[dt.date]:
    """The days a phase plans exercises: every day, or three a week (its 1st, 3rd and 5th)."""
    first = phase.starts_on(start)
    days = [first + dt.timedelta(days=offset) for offset in range(phase.weeks * 7)]
    if phase.frequency == Frequency.DAILY:
        return days
    return [day for day in days if (day - first).days % 7 in (0, 2, 4)]


def plan_schedule(plan: Plan) -> dict[dt.date, Day]:
    """Every day of an approved plan with exercises planned, and those exercises. A removed
    item is planned up to the day before it was removed, and on any later day the client had
    already ticked it off (the day it was removed), so adherence already recorded stays."""
    if plan.starts_on is None:
        return {}
    logged_after_removal = set(
        PracticeLog.objects.filter(
            plan=plan, item__removed_on__isnull=False, day__gte=F("item__removed_on")
        ).values_list("item_id", "day")
    )
    schedule = {}
    for phase in plan.phases.prefetch_related("items__exercise"):
        items = list(phase.items.all())
        for day in phase_days(phase, plan.starts_on):
            planned = [
                item
                for item in items
                if item.planned_on(day) or (item.pk, day) in logged_after_removal
            ]
            if planned:
                schedule[day] = Day(day=day, phase=phase, items=planned)
    return schedule


def client_today(plan: Plan, now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(plan.client.time_zone)).date()


def plan_phase_on(plan: Plan, day: dt.date) -> PlanPhase | None:
    if plan.starts_on is None:
        return None
    week = (day - plan.starts_on).days // 7 + 1
    for phase in plan.phases.all():
        if phase.first_week <= week <= phase.last_week:
            return phase
    return None


# --- What the client logs -------------------------------------------------------------------


def _check_loggable(plan: Plan, day: dt.date, now: dt.datetime) -> None:
    if not plan.is_approved or plan.starts_on is None:
        raise PlanError("This program is not active.")
    today = client_today(plan, now)
    if day > today:
        raise PlanError("That day has not come yet.")
    last = max(phase.ends_on(plan.starts_on) for phase in plan.phases.all())
    if day < plan.starts_on or day > last:
        raise PlanError("That day is outside your program.")


@dataclass(frozen=True)
class Logged:
    created: bool


@transaction.atomic
def practice_mark(
    *,
    plan: Plan,
    item: PlanItem,
    day: dt.date,
    done: bool,
    source: LogSource,
    now: dt.datetime,
) -> Logged:
    """Tick an exercise off for a day (or untick it). Ticking twice keeps one entry."""
    if item.phase.plan_id != plan.pk:
        raise PlanError("That exercise is not part of this program.")
    _check_loggable(plan, day, now)
    phase = plan_phase_on(plan, day)
    if phase is None or phase.pk != item.phase_id:
        raise PlanError("That exercise is not planned in this phase.")
    if done and not item.planned_on(day):
        raise PlanError(
            f"{item.exercise.name} was removed from your program on {item.removed_on:%A %-d %B}."
        )
    if not done:
        PracticeLog.objects.filter(item=item, day=day).delete()
        return Logged(created=False)
    _, created = PracticeLog.objects.get_or_create(
        item=item, day=day, defaults={"plan": plan, "done_at": now, "source": source}
    )
    return Logged(created=created)


@transaction.atomic
def pain_record(
    *, plan: Plan, day: dt.date, score: int, source: LogSource, now: dt.datetime
) -> tuple[PainLog, bool]:
    """The day's pain rating; a new rating for the same day replaces it. Returns the log and
    whether anything changed."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise PlanError("Pain is rated from 0 to 10.")
    _check_loggable(plan, day, now)
    log = PainLog.objects.select_for_update().filter(plan=plan, day=day).first()
    if log is not None and log.score == score:
        return log, False
    if log is None:
        log = PainLog(plan=plan, day=day)
    log.score, log.recorded_at, log.source = score, now, source
    log.save()
    return log, True


@dataclass(frozen=True)
class WeekAdherence:
    week: int
    starts_on: dt.date
    planned: int
    done: int

    @property
    def ratio(self) -> float | None:
        return self.done / self.planned if self.planned else None

    @property
    def percent(self) -> int | None:
        return None if self.ratio is None else round(self.ratio * 100)


def plan_adherence(plan: Plan, *, today: dt.date) -> list[WeekAdherence]:
    """Done / planned exercises per program week, up to today (days still to come in this
    week are not counted as missed)."""
    if plan.starts_on is None or today < plan.starts_on:
        return []
    planned: dict[int, int] = defaultdict(int)
    for day, scheduled in plan_schedule(plan).items():
        if day <= today:
            planned[(day - plan.starts_on).days // 7 + 1] += len(scheduled.items)
    done: dict[int, int] = defaultdict(int)
    for day in plan.practice_logs.values_list("day", flat=True):
        done[(day - plan.starts_on).days // 7 + 1] += 1
    weeks = range(
        1, (min(today, plan.starts_on + dt.timedelta(weeks=52)) - plan.starts_on).days // 7 + 2
    )
    last_week = max((phase.last_week for phase in plan.phases.all()), default=0)
    return [
        WeekAdherence(
            week=week,
            starts_on=plan.starts_on + dt.timedelta(weeks=week - 1),
            planned=planned[week],
            done=done[week],
        )
        for week in weeks
        if week <= last_week
    ]
