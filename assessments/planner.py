"""The follow-up planner: findings in, a phased home program out (PROTOCOLS.md section 6).

Deterministic and explainable. Phases go Restore → Activate → Strengthen, each with its
default weeks and dose; for every finding the planner picks the library's exercises that serve
the finding's targets in that phase, taking the findings in turn so that each gets an exercise
before any gets a second, at most four exercises a phase (fewer than four per session improves
adherence, Bachmann 2018). Every item names the finding it answers. A re-assessment follows the
last phase. Without findings it proposes a general maintenance program and says so.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from assessments.findings import Target

MAX_EXERCISES_PER_PHASE = 4
MAINTENANCE_FINDING = "maintenance"
MAINTENANCE_TITLE = "No findings: general maintenance"


@dataclass(frozen=True)
class PhaseDefault:
    kind: str
    first_week: int
    weeks: int
    frequency: str
    content: str
    dose: str


# PROTOCOLS.md section 6; doses from ACSM via that table.
DEFAULT_PHASES: tuple[PhaseDefault, ...] = (
    PhaseDefault(
        "restore",
        1,
        2,
        "daily",
        "Mobility and release for each restricted area found.",
        "Stretches 2–4 × 30 s, daily",
    ),
    PhaseDefault(
        "activate",
        3,
        2,
        "daily",
        "Gluteus medius and deep rotator activation.",
        "2–3 × 12–20 reps, daily",
    ),
    PhaseDefault(
        "strengthen",
        5,
        4,
        "3_per_week",
        "Strength and movement pattern: lunge with the knee over the mid-foot.",
        "3 × 8–12 reps, 3 days a week",
    ),
)
MAINTENANCE_PHASE = PhaseDefault(
    "maintain",
    1,
    8,
    "3_per_week",
    "A general program to keep hips and ankles moving well.",
    "As listed, 3 days a week",
)


@dataclass(frozen=True)
class LibraryExercise:
    id: int
    slug: str
    name: str
    phase: str
    targets: tuple[str, ...]
    position: int
    maintenance: bool = False


@dataclass(frozen=True)
class FindingForPlan:
    identity: str
    title: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ProposedItem:
    exercise: LibraryExercise
    finding: str
    finding_title: str


@dataclass(frozen=True)
class ProposedPhase:
    default: PhaseDefault
    items: tuple[ProposedItem, ...]


@dataclass(frozen=True)
class ProposedPlan:
    phases: tuple[ProposedPhase, ...]
    maintenance: bool
    summary: str
    reassessment_week: int
    # Findings no library exercise answers (no target, or none in the library): the
    # clinician decides what to do about them.
    unanswered: tuple[FindingForPlan, ...]


def _candidates(
    library: Sequence[LibraryExercise], *, phase: str, targets: Sequence[str]
) -> list[LibraryExercise]:
    # The finding's first target comes first: it is the one the rule named as the main one.
    chosen: list[LibraryExercise] = []
    for target in targets:
        for exercise in sorted(library, key=lambda e: (e.position, e.id)):
            if exercise.phase == phase and target in exercise.targets and exercise not in chosen:
                chosen.append(exercise)
    return chosen


def _phase_items(
    library: Sequence[LibraryExercise], findings: Sequence[FindingForPlan], *, phase: str
) -> tuple[ProposedItem, ...]:
    queues = [
        (finding, _candidates(library, phase=phase, targets=finding.targets))
        for finding in findings
    ]
    items: list[ProposedItem] = []
    used: set[int] = set()
    # Round robin over the findings: each gets an exercise before any gets a second.
    while len(items) < MAX_EXERCISES_PER_PHASE and any(queue for _, queue in queues):
        for finding, queue in queues:
            while queue and queue[0].id in used:
                queue.pop(0)
            if not queue or len(items) == MAX_EXERCISES_PER_PHASE:
                continue
            exercise = queue.pop(0)
            used.add(exercise.id)
            items.append(ProposedItem(exercise, finding.identity, finding.title))
    return tuple(items)


def plan_propose(
    findings: Sequence[FindingForPlan], library: Sequence[LibraryExercise]
) -> ProposedPlan:
    known_targets = {str(target) for target in Target}
    answerable = [
        finding
        for finding in findings
        if any(
            target in known_targets and any(target in e.targets for e in library)
            for target in finding.targets
        )
    ]
    unanswered = tuple(finding for finding in findings if finding not in answerable)
    if not answerable:
        general = [e for e in sorted(library, key=lambda e: (e.position, e.id)) if e.maintenance]
        items = tuple(
            ProposedItem(exercise, MAINTENANCE_FINDING, MAINTENANCE_TITLE)
            for exercise in general[:MAX_EXERCISES_PER_PHASE]
        )
        summary = (
            "The assessment found nothing to work on: this is a general maintenance program."
            if not findings
            else "None of the findings has an exercise in the library, so this is a general "
            "maintenance program; the findings are listed for you to address."
        )
        return ProposedPlan(
            phases=(ProposedPhase(MAINTENANCE_PHASE, items),),
            maintenance=True,
            summary=summary,
            reassessment_week=MAINTENANCE_PHASE.first_week + MAINTENANCE_PHASE.weeks,
            unanswered=unanswered,
        )
    phases = tuple(
        ProposedPhase(default, _phase_items(library, answerable, phase=default.kind))
        for default in DEFAULT_PHASES
    )
    last = DEFAULT_PHASES[-1]
    count = len(answerable)
    return ProposedPlan(
        phases=phases,
        maintenance=False,
        summary=(
            f"Built from {count} finding{'s' if count != 1 else ''}: restore mobility first, "
            "then activate, then strengthen; re-assess after the last phase."
        ),
        reassessment_week=last.first_week + last.weeks,
        unanswered=unanswered,
    )
