"""The follow-up planner: findings in, a phased home program out (PROTOCOLS.md section 6).

Deterministic and explainable. Phases go Restore → Activate → Strengthen, each with its
default weeks and dose. The planner works by body area (a finding's targets), not by finding:
six findings may name only three areas, and several findings about one area (a restricted
ankle and a left/right difference of the same ankle) need the same exercises. In each phase
the areas take turns, so that every area gets an exercise before any gets a second, at most
four exercises a phase (fewer than four per session improves adherence, Bachmann 2018). The
order of the turns follows the phase's purpose: Restore is "mobility/release for each restricted
area found", so the restricted areas (ankle, external rotators, hip flexors, adductors and
quads: four areas for four places) go before the gluteus medius, whose work is activation;
Activate and Strengthen start with the gluteus medius (and the deep rotators in Activate).
Within a priority the areas keep the order the findings name them in.

Every item names every finding it answers: those sharing a target with the exercise. A
re-assessment follows the last phase. Without findings it proposes a general maintenance program
and says so.
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
    # Every finding the exercise answers, in the assessment's order.
    findings: tuple[FindingForPlan, ...]


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


# The areas that come first in each phase's turns; the others follow in the findings' order.
_RESTRICTED_AREAS = (
    Target.ANKLE_DORSIFLEXION,
    Target.HIP_EXTERNAL_ROTATORS,
    Target.HIP_FLEXORS,
    Target.ADDUCTORS_QUADS,
)
PHASE_FOCUS: dict[str, tuple[str, ...]] = {
    "restore": tuple(str(area) for area in _RESTRICTED_AREAS),
    "activate": (str(Target.GLUTE_MED), str(Target.HIP_EXTERNAL_ROTATORS)),
    "strengthen": (str(Target.GLUTE_MED),),
}


def _areas(findings: Sequence[FindingForPlan], *, phase: str) -> list[str]:
    """The targets the findings name, the phase's focus first, then in the findings' order."""
    named: list[str] = []
    for finding in findings:
        for target in finding.targets:
            if target not in named:
                named.append(target)
    focus = [area for area in PHASE_FOCUS.get(phase, ()) if area in named]
    return focus + [area for area in named if area not in focus]


def _phase_items(
    library: Sequence[LibraryExercise], findings: Sequence[FindingForPlan], *, phase: str
) -> tuple[ProposedItem, ...]:
    in_phase = sorted((e for e in library if e.phase == phase), key=lambda e: (e.position, e.id))
    areas = _areas(findings, phase=phase)
    chosen: list[LibraryExercise] = []

    def serving(area: str) -> int:
        return sum(1 for exercise in chosen if area in exercise.targets)

    def left_for(area: str) -> LibraryExercise | None:
        return next((e for e in in_phase if area in e.targets and e not in chosen), None)

    # Round r gives each area its r-th exercise; an exercise serving two areas counts for both,
    # so an area that another area's exercise already serves waits for the next round.
    turn = 1
    while len(chosen) < MAX_EXERCISES_PER_PHASE and any(left_for(area) for area in areas):
        for area in areas:
            if len(chosen) == MAX_EXERCISES_PER_PHASE:
                break
            exercise = left_for(area) if serving(area) < turn else None
            if exercise is not None:
                chosen.append(exercise)
        turn += 1
    return tuple(
        ProposedItem(
            exercise,
            tuple(f for f in findings if set(f.targets) & set(exercise.targets)),
        )
        for exercise in chosen
    )


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
        maintenance = (FindingForPlan(MAINTENANCE_FINDING, MAINTENANCE_TITLE, ()),)
        items = tuple(
            ProposedItem(exercise, maintenance) for exercise in general[:MAX_EXERCISES_PER_PHASE]
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
