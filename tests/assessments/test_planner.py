"""The planner against cases from PROTOCOLS.md section 6, on the clinic's real library."""

import random

import pytest

from assessments.exercise_library import EXERCISES
from assessments.findings import Target
from assessments.planner import (
    MAINTENANCE_FINDING,
    MAX_EXERCISES_PER_PHASE,
    FindingForPlan,
    LibraryExercise,
    plan_propose,
)

LIBRARY = [
    LibraryExercise(
        id=number,
        slug=data["slug"],
        name=data["name"],
        phase=data["phase"],
        targets=tuple(data["targets"]),
        position=data["position"],
        maintenance=data["maintenance"],
    )
    for number, data in enumerate(EXERCISES, start=1)
]


def finding(identity: str, *targets: Target, title: str = "") -> FindingForPlan:
    return FindingForPlan(identity=identity, title=title or identity, targets=tuple(targets))


def slugs(plan, phase: str) -> list[str]:
    [found] = [p for p in plan.phases if p.default.kind == phase]
    return [item.exercise.slug for item in found.items]


def answered(plan) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for phase in plan.phases:
        for item in phase.items:
            result.setdefault(item.finding, set()).add(item.exercise.slug)
    return result


def test_phases_and_weeks_follow_the_protocol() -> None:
    plan = plan_propose([finding("ktw_restricted:left", Target.ANKLE_DORSIFLEXION)], LIBRARY)
    assert not plan.maintenance
    assert [
        (p.default.kind, p.default.first_week, p.default.weeks, p.default.frequency)
        for p in plan.phases
    ] == [
        ("restore", 1, 2, "daily"),
        ("activate", 3, 2, "daily"),
        ("strengthen", 5, 4, "3_per_week"),
    ]
    # Then a re-assessment, after week 8.
    assert plan.reassessment_week == 9


def test_restricted_ankle_gets_calf_and_soleus_stretches_first() -> None:
    plan = plan_propose([finding("ktw_restricted:right", Target.ANKLE_DORSIFLEXION)], LIBRARY)
    restore = slugs(plan, "restore")
    assert restore[:2] == ["wall-calf-stretch", "bent-knee-soleus-stretch"]
    assert "knee-to-wall-ankle-rocks" in restore
    # Every phase has something for it, and every item names the finding.
    assert all(phase.items for phase in plan.phases)
    assert {item.finding for phase in plan.phases for item in phase.items} == {
        "ktw_restricted:right"
    }


def test_valgus_gets_side_lying_abduction_before_clamshells_then_bridges_then_lunges() -> None:
    plan = plan_propose([finding("lunge_valgus:left", Target.GLUTE_MED)], LIBRARY)
    activate = slugs(plan, "activate")
    # Side-lying hip abduction ~81% MVIC vs ~40% for clamshells (Distefano 2009).
    assert activate.index("side-lying-hip-abduction") < activate.index("clamshell")
    strengthen = slugs(plan, "strengthen")
    assert any("bridge" in slug for slug in strengthen)
    assert any("lunge" in slug for slug in strengthen)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Target.HIP_EXTERNAL_ROTATORS, {"supine-figure-4-stretch", "90-90-hip-switches"}),
        (Target.HIP_FLEXORS, {"half-kneeling-hip-flexor-stretch"}),
        (Target.ADDUCTORS_QUADS, {"adductor-rock-back", "side-lying-quad-stretch"}),
    ],
)
def test_each_restricted_area_gets_its_mobility_work_in_the_restore_phase(target, expected) -> None:
    plan = plan_propose([finding("x:left", target)], LIBRARY)
    assert expected <= set(slugs(plan, "restore"))


def test_at_most_four_exercises_a_phase_each_finding_served_before_any_gets_two() -> None:
    findings = [
        finding("ktw_restricted:left", Target.ANKLE_DORSIFLEXION),
        finding("faber_asymmetry:left", Target.HIP_EXTERNAL_ROTATORS),
        finding("thomas_one_joint:right", Target.HIP_FLEXORS),
        finding("lunge_valgus:right", Target.GLUTE_MED),
        finding("thomas_two_joint:right", Target.HIP_FLEXORS, Target.ADDUCTORS_QUADS),
    ]
    plan = plan_propose(findings, LIBRARY)
    for phase in plan.phases:
        assert len(phase.items) <= MAX_EXERCISES_PER_PHASE
        assert len({item.exercise.slug for item in phase.items}) == len(phase.items)
    restore = next(p for p in plan.phases if p.default.kind == "restore")
    # Four findings in order get one each; the fifth waits for a free place.
    assert [item.finding for item in restore.items] == [f.identity for f in findings[:4]]


def test_the_plan_is_deterministic_whatever_the_library_order() -> None:
    findings = [
        finding("lunge_valgus:right", Target.GLUTE_MED),
        finding("ktw_asymmetry:left", Target.ANKLE_DORSIFLEXION),
    ]
    shuffled = LIBRARY[:]
    random.Random(7).shuffle(shuffled)
    assert plan_propose(findings, LIBRARY) == plan_propose(findings, shuffled)


def test_without_findings_a_general_maintenance_program_says_so() -> None:
    plan = plan_propose([], LIBRARY)
    assert plan.maintenance
    assert "found nothing" in plan.summary
    [phase] = plan.phases
    assert phase.default.kind == "maintain"
    assert 1 <= len(phase.items) <= MAX_EXERCISES_PER_PHASE
    assert {item.finding for item in phase.items} == {MAINTENANCE_FINDING}
    assert all(item.exercise.maintenance for item in phase.items)
    assert plan.reassessment_week == 9


def test_findings_without_an_exercise_are_listed_for_the_clinician() -> None:
    slr = finding("slr_angle_asymmetry:left", title="Straight leg raise lower on the left")
    plan = plan_propose([slr], LIBRARY)
    assert plan.maintenance
    assert plan.unanswered == (slr,)
    assert "None of the findings has an exercise" in plan.summary
    mixed = plan_propose([slr, finding("ktw_restricted:left", Target.ANKLE_DORSIFLEXION)], LIBRARY)
    assert not mixed.maintenance
    assert mixed.unanswered == (slr,)
    assert set(answered(mixed)) == {"ktw_restricted:left"}
