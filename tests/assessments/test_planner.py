"""The planner against cases from PROTOCOLS.md section 6, on the clinic's real library."""

import random

import pytest

from assessments.findings import Target
from assessments.programs.exercise_library import EXERCISES
from assessments.programs.planner import (
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
    """Each finding with the exercises that name it, over the whole plan."""
    result: dict[str, set[str]] = {}
    for phase in plan.phases:
        for item in phase.items:
            for answered_finding in item.findings:
                result.setdefault(answered_finding.identity, set()).add(item.exercise.slug)
    return result


def phase_of(plan, kind: str):
    return next(p for p in plan.phases if p.default.kind == kind)


def served(phase) -> set[str]:
    """The body areas (targets) the phase's exercises work on."""
    return {target for item in phase.items for target in item.exercise.targets}


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
    assert {f.identity for phase in plan.phases for item in phase.items for f in item.findings} == {
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


def test_at_most_four_exercises_a_phase_each_area_served_before_any_gets_two() -> None:
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
    restore = phase_of(plan, "restore")
    # Four restricted areas, four places: one mobility exercise for each, the knee's control
    # (gluteus medius) is the activate phase's work.
    assert [item.exercise.slug for item in restore.items] == [
        "wall-calf-stretch",
        "supine-figure-4-stretch",
        "half-kneeling-hip-flexor-stretch",
        "adductor-rock-back",
    ]
    # Both hip flexor findings are named by the stretch that answers them.
    stretch = restore.items[2]
    assert [f.identity for f in stretch.findings] == [
        "thomas_one_joint:right",
        "thomas_two_joint:right",
    ]
    # Every finding is answered in the restore phase already.
    assert {f.identity for item in restore.items for f in item.findings} == {
        f.identity for f in findings
    }
    activate = phase_of(plan, "activate")
    assert activate.items[0].exercise.slug == "side-lying-hip-abduction"


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
    assert {f.identity for item in phase.items for f in item.findings} == {MAINTENANCE_FINDING}
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


# --- Body areas: every restricted area gets restore work (PROTOCOLS.md section 6) -----------

RESTRICTED_AREAS = {
    Target.ANKLE_DORSIFLEXION,
    Target.HIP_EXTERNAL_ROTATORS,
    Target.HIP_FLEXORS,
    Target.ADDUCTORS_QUADS,
}


def test_six_findings_in_four_areas_give_every_restricted_area_restore_work() -> None:
    """The audit's case: three hip findings and a valgus came first and took the four places of
    the restore and activate phases, so the restricted ankle got nothing until Strengthen."""
    findings = [
        finding("aslr_positive", Target.HIP_FLEXORS),
        finding("seated_asymmetry:left", Target.HIP_EXTERNAL_ROTATORS),
        finding("faber_asymmetry:left", Target.HIP_EXTERNAL_ROTATORS),
        finding("lunge_valgus:right", Target.GLUTE_MED),
        finding("ktw_restricted:right", Target.ANKLE_DORSIFLEXION),
        finding("ktw_asymmetry:right", Target.ANKLE_DORSIFLEXION),
    ]
    plan = plan_propose(findings, LIBRARY)
    restore, activate, strengthen = plan.phases
    for phase in plan.phases:
        assert len(phase.items) <= MAX_EXERCISES_PER_PHASE
    assert served(restore) >= {
        Target.HIP_FLEXORS,
        Target.HIP_EXTERNAL_ROTATORS,
        Target.ANKLE_DORSIFLEXION,
    }
    calf = next(i for i in restore.items if i.exercise.slug == "wall-calf-stretch")
    assert [f.identity for f in calf.findings] == ["ktw_restricted:right", "ktw_asymmetry:right"]
    hips = next(i for i in restore.items if i.exercise.slug == "supine-figure-4-stretch")
    assert [f.identity for f in hips.findings] == ["seated_asymmetry:left", "faber_asymmetry:left"]
    # The ankle is worked in the activate phase too, beside the gluteus medius.
    assert Target.ANKLE_DORSIFLEXION in served(activate)
    assert activate.items[0].exercise.slug == "side-lying-hip-abduction"
    assert "lunge_valgus:right" in {f.identity for f in activate.items[0].findings}
    # Every item names every finding it answers, and only those.
    for phase in plan.phases:
        for item in phase.items:
            expected = [f.identity for f in findings if set(f.targets) & set(item.exercise.targets)]
            assert [f.identity for f in item.findings] == expected, item.exercise.slug
    assert set(answered(plan)) == {f.identity for f in findings}
    assert {f.identity for f in strengthen.items[0].findings} >= {"lunge_valgus:right"}


@pytest.mark.parametrize(
    ("findings", "areas"),
    [
        # Two-joint hip flexors (rectus femoris): hip flexor stretch and quad mobility.
        (
            [finding("thomas_two_joint:left", Target.HIP_FLEXORS, Target.ADDUCTORS_QUADS)],
            {Target.HIP_FLEXORS, Target.ADDUCTORS_QUADS},
        ),
        # FABER positive with groin pain: external rotators and adductors.
        (
            [
                finding(
                    "faber_positive:right", Target.HIP_EXTERNAL_ROTATORS, Target.ADDUCTORS_QUADS
                ),
                finding("ktw_asymmetry:left", Target.ANKLE_DORSIFLEXION),
            ],
            {Target.HIP_EXTERNAL_ROTATORS, Target.ADDUCTORS_QUADS, Target.ANKLE_DORSIFLEXION},
        ),
        # Every restricted area at once, and a valgus and a hip drop before them.
        (
            [
                finding("lunge_valgus:left", Target.GLUTE_MED),
                finding("trendelenburg:left", Target.GLUTE_MED),
                finding("aslr_asymmetry:left", Target.HIP_FLEXORS),
                finding("seated_tightness:left", Target.HIP_EXTERNAL_ROTATORS),
                finding(
                    "faber_positive:left", Target.HIP_EXTERNAL_ROTATORS, Target.ADDUCTORS_QUADS
                ),
                finding("ktw_restricted:left", Target.ANKLE_DORSIFLEXION),
            ],
            RESTRICTED_AREAS,
        ),
    ],
    ids=["two-joint-hip-flexors", "faber-groin-and-ankle", "every-area"],
)
def test_each_restricted_area_found_gets_restore_work(findings, areas) -> None:
    plan = plan_propose(findings, LIBRARY)
    restore = phase_of(plan, "restore")
    assert len(restore.items) <= MAX_EXERCISES_PER_PHASE
    assert served(restore) >= areas
    for item in restore.items:
        assert item.findings, item.exercise.slug


def test_gluteus_medius_comes_first_in_activate_and_strengthen() -> None:
    # Found after three restrictions, the valgus still gets the best activation exercise
    # (Distefano 2009) and the knee-over-mid-foot pattern.
    findings = [
        finding("ktw_restricted:left", Target.ANKLE_DORSIFLEXION),
        finding("aslr_positive", Target.HIP_FLEXORS),
        finding("faber_asymmetry:left", Target.HIP_EXTERNAL_ROTATORS),
        finding("fppa_high:left", Target.GLUTE_MED),
    ]
    plan = plan_propose(findings, LIBRARY)
    assert slugs(plan, "activate")[0] == "side-lying-hip-abduction"
    assert any("lunge" in slug for slug in slugs(plan, "strengthen"))


# --- The same case through a real assessment, stored as the clinician reviews it -------------

SIX_FINDINGS = {
    "aslr.left.1.aslr_score": 1,
    "aslr.right.1.aslr_score": 0,
    "seated_cross_legged.left.1.sits_higher": True,
    "seated_cross_legged.right.1.sits_higher": False,
    "faber.left.1.faber_height_cm": 17,
    "faber.right.1.faber_height_cm": 12,
    "lunge.right.1.knee_position": "medial_to_big_toe",
    "knee_to_wall.left.1.ktw_cm": 12,
    "knee_to_wall.right.1.ktw_cm": 8,
}


@pytest.mark.django_db
def test_the_stored_plan_names_every_finding_an_item_answers(
    client_record, clinician, library, appointment, as_clinician
) -> None:
    from django.urls import reverse

    from tests.assessments.conftest import make_plan

    plan = make_plan(client=client_record, clinician=clinician, values=SIX_FINDINGS)
    identities = set(plan.assessment.findings.values_list("protocol", flat=True))
    assert identities >= {"aslr", "seated_cross_legged", "faber", "lunge", "knee_to_wall"}
    restore = plan.phases.get(number=1)
    items = {item.exercise.slug: item for item in restore.items.select_related("exercise")}
    assert len(items) <= 4
    calf = items["wall-calf-stretch"]
    assert [a["identity"] for a in calf.answers] == ["ktw_asymmetry:right", "ktw_restricted:right"]
    html = as_clinician.get(reverse("assessments:plan", args=[plan.uuid])).content.decode()
    assert "Answers: Knee-to-wall: right ankle stiffer; Right ankle dorsiflexion restricted" in html
    assert "no exercise in the plan" not in html
