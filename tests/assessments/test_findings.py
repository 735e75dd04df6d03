"""Finding rules against cases taken from PROTOCOLS.md: each threshold just below and at (or
just above) its limit, which side is flagged, and which results a flag names."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from assessments.findings import (
    DEFAULT_THRESHOLDS,
    PLAIN_WORDS,
    RULES,
    Context,
    Target,
    finding_in_plain_words,
    findings_derive,
    thresholds_with,
)
from assessments.protocols import PROTOCOLS, ValueAddress, address_parse


def derive(values: dict[str, object], *, sex: str = "", **overrides) -> list:
    addressed = {address_parse(key): value for key, value in values.items()}
    return findings_derive(
        addressed, context=Context(sex=sex, thresholds=thresholds_with(overrides))
    )


def keyed(findings: list) -> dict[str, object]:
    return {finding.identity: finding for finding in findings}


# (case, results, expected finding identities) — each line a case from PROTOCOLS.md.
CASES = [
    # 1a. Mens ASLR: sum 0 negative, ≥ 1 positive; a side ≥ 2 points higher is flagged.
    ("ASLR sum 0 is negative", {"aslr.left.1.aslr_score": 0, "aslr.right.1.aslr_score": 0}, []),
    (
        "ASLR sum 1 is positive",
        {"aslr.left.1.aslr_score": 1, "aslr.right.1.aslr_score": 0},
        ["aslr_positive:left"],
    ),
    (
        "ASLR one point apart is not asymmetric",
        {"aslr.left.1.aslr_score": 2, "aslr.right.1.aslr_score": 1},
        ["aslr_positive:both"],
    ),
    (
        "ASLR two points apart is asymmetric",
        {"aslr.left.1.aslr_score": 1, "aslr.right.1.aslr_score": 3},
        ["aslr_positive:both", "aslr_asymmetry:right"],
    ),
    # 1b. SLR angle difference above 12° (mean + 2 SD).
    (
        "SLR 12° apart is within normal",
        {"aslr.left.1.slr_angle_deg": 60, "aslr.right.1.slr_angle_deg": 48},
        [],
    ),
    (
        "SLR 12.5° apart is flagged on the lower side",
        {"aslr.left.1.slr_angle_deg": 60, "aslr.right.1.slr_angle_deg": 47.5},
        ["slr_angle_asymmetry:right"],
    ),
    # 2. FABER: difference ≥ 4 cm; positive with pain or the knee above the other leg.
    (
        "FABER 3.5 cm apart is within the MDC",
        {"faber.left.1.faber_height_cm": 16, "faber.right.1.faber_height_cm": 12.5},
        [],
    ),
    (
        "FABER 4 cm apart flags the higher (stiffer) side",
        {"faber.left.1.faber_height_cm": 12, "faber.right.1.faber_height_cm": 16},
        ["faber_asymmetry:right"],
    ),
    ("FABER with pain is positive", {"faber.left.1.pain": 3}, ["faber_positive:left"]),
    ("FABER without pain is not", {"faber.left.1.pain": 0}, []),
    (
        "FABER knee above the opposite leg is positive",
        {"faber.right.1.knee_above_opposite_leg": True},
        ["faber_positive:right"],
    ),
    (
        "Seated: one knee higher",
        {
            "seated_cross_legged.left.1.sits_higher": True,
            "seated_cross_legged.right.1.sits_higher": False,
        },
        ["seated_asymmetry:left"],
    ),
    # 3. Lunge: knee over or inside the big toe; FPPA difference ≥ 8°; FPPA above the
    # sex-specific reference; hip drop.
    ("Knee over the mid-foot is good", {"lunge.left.1.knee_position": "over_mid_foot"}, []),
    ("Knee outside the foot is not valgus", {"lunge.left.1.knee_position": "lateral"}, []),
    (
        "Knee over the big toe in any trial",
        {
            "lunge.left.1.knee_position": "over_mid_foot",
            "lunge.left.2.knee_position": "over_big_toe",
        },
        ["lunge_valgus:left"],
    ),
    (
        "Knee inside the big toe",
        {"lunge.right.3.knee_position": "medial_to_big_toe"},
        ["lunge_valgus:right"],
    ),
    ("Hip drop seen", {"lunge.right.2.hip_drop": True}, ["lunge_hip_drop:right"]),
    (
        "FPPA means 7.5° apart are within the detectable difference",
        {
            **{f"lunge.left.{t}.fppa_deg": v for t, v in ((1, 4), (2, 5), (3, 6))},
            **{f"lunge.right.{t}.fppa_deg": v for t, v in ((1, 12), (2, 12.5), (3, 13))},
        },
        [],
    ),
    (
        "FPPA means 8° apart flag the more valgus side",
        {
            **{f"lunge.left.{t}.fppa_deg": v for t, v in ((1, 4), (2, 5), (3, 6))},
            **{f"lunge.right.{t}.fppa_deg": v for t, v in ((1, 12), (2, 13), (3, 14))},
        },
        ["fppa_asymmetry:right"],
    ),
    (
        # Means 16.17° and 8.25°: 7.92° apart. Rounded first (16.2 and 8.2) they were 8° apart.
        "FPPA means are compared unrounded",
        {
            **{f"lunge.left.{t}.fppa_deg": v for t, v in ((1, 16), (2, 16), (3, 16.5))},
            **{f"lunge.right.{t}.fppa_deg": v for t, v in ((1, 8), (2, 8.5))},
        },
        ["fppa_high:left"],  # 16.17° is above the men's (sex not recorded) reference of 15°
    ),
    (
        "Seated: tightness felt in one hip",
        {
            "seated_cross_legged.right.1.tightness_felt": True,
            "seated_cross_legged.left.1.tightness_felt": False,
        },
        ["seated_tightness:right"],
    ),
    # 5. Single-leg stance: a pelvic drop of more than 2 cm is positive; when the drop is
    # measured the threshold decides, when it is only seen the observation does.
    (
        "Pelvic drop seen, not measured",
        {"single_leg_stance.left.1.pelvic_drop": True},
        ["trendelenburg:left"],
    ),
    (
        "Pelvic drop seen but measured at 1 cm is not positive",
        {
            "single_leg_stance.left.1.pelvic_drop": True,
            "single_leg_stance.left.1.pelvic_drop_cm": 1,
        },
        [],
    ),
    ("Pelvic drop of 2 cm is not positive", {"single_leg_stance.left.1.pelvic_drop_cm": 2}, []),
    (
        "Pelvic drop of 2.5 cm is positive",
        {"single_leg_stance.right.1.pelvic_drop_cm": 2.5},
        ["trendelenburg:right"],
    ),
    (
        "Pelvic drop of 2.5 cm is positive even if not ticked as seen",
        {
            "single_leg_stance.right.1.pelvic_drop": False,
            "single_leg_stance.right.1.pelvic_drop_cm": 2.5,
        },
        ["trendelenburg:right"],
    ),
]


@pytest.mark.parametrize(("case", "values", "expected"), CASES, ids=[c[0] for c in CASES])
def test_finding_rules_follow_protocols_md(case, values, expected) -> None:
    assert sorted(keyed(derive(values))) == sorted(expected), case


@pytest.mark.parametrize(
    ("sex", "mean", "flagged"),
    [
        ("female", 18.5, False),  # control mean 8.4 + 2 × 5.1 = 18.6
        ("female", 18.6, False),
        ("female", 19, True),
        ("male", 15, False),  # the uncertain male default
        ("male", 15.5, True),
        ("", 15.5, True),  # not recorded: the lower, male reference
        ("", 15, False),
    ],
)
def test_fppa_is_compared_with_the_sex_specific_reference(sex, mean, flagged) -> None:
    findings = keyed(derive({"lunge.left.1.fppa_deg": mean}, sex=sex))
    assert ("fppa_high:left" in findings) is flagged
    if flagged:
        detail = findings["fppa_high:left"].detail
        reference = {"female": "18.6", "male": "15", "": "15"}[sex]
        assert f"reference of {reference}°" in detail
        if not sex:
            assert "sex not recorded" in detail


def test_a_mean_fppa_just_above_the_reference_is_not_rounded_down_to_it() -> None:
    # Mean 18.63°: above the women's 18.6°, though it rounds to 18.6°.
    trials = {f"lunge.left.{t}.fppa_deg": v for t, v in ((1, 18.5), (2, 18.7), (3, 18.7))}
    findings = keyed(derive(trials, sex="female"))
    assert "fppa_high:left" in findings
    assert "Mean FPPA 18.63° over 3 trials" in findings["fppa_high:left"].detail


def test_counts_are_written_in_the_singular_for_one() -> None:
    findings = keyed(
        derive(
            {
                "aslr.left.1.aslr_score": 1,
                "aslr.right.1.aslr_score": 3,
                "lunge.left.1.fppa_deg": 20,
            }
        )
    )
    assert findings["aslr_asymmetry:right"].detail == (
        "Right 3 points, left 1 point: a difference of 2 points (≥ 2 points)."
    )
    assert "Mean FPPA 20° over 1 trial, above" in findings["fppa_high:left"].detail


def test_a_difference_just_above_the_threshold_is_shown_with_the_precision_that_shows_it() -> None:
    findings = keyed(
        derive(
            {
                **{f"lunge.left.{t}.fppa_deg": v for t, v in ((1, 16.1), (2, 16), (3, 16))},
                "lunge.right.1.fppa_deg": 8,
            },
            sex="female",
        )
    )
    # 16.03° − 8° = 8.03°: shown as "8°" it would read as exactly at the threshold.
    assert "a difference of 8.03° (≥ 8°)" in findings["fppa_asymmetry:left"].detail
    assert "Mean FPPA left 16°, right 8°" in findings["fppa_asymmetry:left"].detail


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (12, 10.5, []),  # 1.5 cm: within the MDC of 1.6–1.9 cm
        (12, 10, ["ktw_asymmetry:right"]),  # 2 cm
        (9, 9, []),  # 9 cm is not below 9
        (8.5, 9, ["ktw_restricted:left"]),
        (6, 11, ["ktw_asymmetry:left", "ktw_restricted:left"]),
    ],
)
def test_knee_to_wall_difference_and_restriction(left, right, expected) -> None:
    findings = derive({"knee_to_wall.left.1.ktw_cm": left, "knee_to_wall.right.1.ktw_cm": right})
    assert sorted(keyed(findings)) == sorted(expected)


def trials(key: str, *values: float) -> dict[str, float]:
    """``trials("faber.left.faber_height_cm", 16, 16.5)``: the values of trials 1, 2, …"""
    protocol, side, field = key.split(".")
    return {f"{protocol}.{side}.{t}.{field}": v for t, v in enumerate(values, start=1)}


@pytest.mark.parametrize(
    ("case", "values", "expected"),
    [
        (
            "Knee-to-wall means 12 and 10 cm are 2 cm apart",
            {
                **trials("knee_to_wall.left.ktw_cm", 12, 12.5, 11.5),
                **trials("knee_to_wall.right.ktw_cm", 10, 10.5, 9.5),
            },
            ["ktw_asymmetry:right"],
        ),
        (
            "Knee-to-wall trials 1 are 2 cm apart, the means only 1 cm",
            {
                **trials("knee_to_wall.left.ktw_cm", 12, 11, 11),
                **trials("knee_to_wall.right.ktw_cm", 10, 10.5, 10.5),
            },
            [],
        ),
        (
            "Knee-to-wall restricted by the mean (8.67 cm) though trial 1 is 9 cm",
            {
                **trials("knee_to_wall.left.ktw_cm", 9, 8.5, 8.5),
                **trials("knee_to_wall.right.ktw_cm", 9, 9, 9),
            },
            ["ktw_restricted:left"],
        ),
        (
            "FABER means 16 and 12 cm",
            {
                **trials("faber.left.faber_height_cm", 16, 16.5, 15.5),
                **trials("faber.right.faber_height_cm", 12, 12, 12),
            },
            ["faber_asymmetry:left"],
        ),
        (
            "SLR means 61° and 48.67° are 12.33° apart",
            {
                **trials("aslr.left.slr_angle_deg", 60, 62, 61),
                **trials("aslr.right.slr_angle_deg", 48, 49, 49),
            },
            ["slr_angle_asymmetry:right"],
        ),
        (
            "FABER pain in the second trial",
            trials("faber.left.pain", 0, 4),
            ["faber_positive:left"],
        ),
        (
            "FABER knee above the other leg in the third trial",
            trials("faber.right.knee_above_opposite_leg", False, False, True),
            ["faber_positive:right"],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_repeated_measurements_are_compared_by_the_mean_of_their_trials(
    case, values, expected
) -> None:
    assert sorted(keyed(derive(values))) == sorted(expected), case


def test_a_mean_names_its_trials_and_every_trial_is_a_source() -> None:
    findings = keyed(
        derive(
            {
                **trials("faber.left.faber_height_cm", 16, 16.5, 15.5),
                "faber.right.1.faber_height_cm": 12,
            }
        )
    )
    asymmetry = findings["faber_asymmetry:left"]
    assert asymmetry.detail == (
        "Left 16 cm (mean of 3 trials), right 12 cm: a difference of 4 cm (≥ 4 cm)."
    )
    assert [(s.side, s.trial, s.value) for s in asymmetry.sources] == [
        ("left", 1, 16),
        ("left", 2, 16.5),
        ("left", 3, 15.5),
        ("right", 1, 12),
    ]
    assert asymmetry.sources[1].label == (
        "Figure-4 (FABER), left, trial 2: knee height above the surface 16.5 cm"
    )


def test_a_knee_drifting_inward_in_any_trial_is_said_to_inflate_the_result() -> None:
    findings = keyed(
        derive(
            {
                **trials("knee_to_wall.left.ktw_cm", 7, 7.5),
                "knee_to_wall.left.2.knee_drifted_in": True,
            }
        )
    )
    assert "inflates" in findings["ktw_restricted:left"].detail
    assert ("knee_drifted_in", 2) in [
        (s.field, s.trial) for s in findings["ktw_restricted:left"].sources
    ]


def test_a_knee_drifting_inward_is_said_to_inflate_the_knee_to_wall_result() -> None:
    findings = keyed(
        derive({"knee_to_wall.left.1.ktw_cm": 7, "knee_to_wall.left.1.knee_drifted_in": True})
    )
    assert "inflates" in findings["ktw_restricted:left"].detail


def test_optional_screens() -> None:
    findings = keyed(
        derive(
            {
                "modified_thomas.left.1.thigh_above_horizontal": True,
                "modified_thomas.right.1.knee_angle_deg": 60,
                "modified_thomas.left.1.knee_angle_deg": 67,
                "single_leg_stance.right.1.pelvic_drop": True,
                "single_leg_stance.left.1.pelvic_drop_cm": 2,
                "single_leg_stance.left.1.pelvic_drop": False,
            }
        )
    )
    assert sorted(findings) == [
        "thomas_one_joint:left",
        "thomas_two_joint:right",
        "trendelenburg:right",
    ]
    assert Target.ADDUCTORS_QUADS in findings["thomas_two_joint:right"].targets
    assert findings["trendelenburg:right"].targets == (Target.GLUTE_MED,)


def test_each_flag_names_the_results_that_produced_it() -> None:
    findings = keyed(
        derive(
            {
                "faber.left.1.faber_height_cm": 18,
                "faber.right.1.faber_height_cm": 12,
                "faber.right.1.pain": 5,
                "faber.right.1.pain_location": "groin",
            }
        )
    )
    asymmetry = findings["faber_asymmetry:left"]
    assert [(s.protocol, s.side, s.field, s.value) for s in asymmetry.sources] == [
        ("faber", "left", "faber_height_cm", 18),
        ("faber", "right", "faber_height_cm", 12),
    ]
    assert asymmetry.detail == "Left 18 cm, right 12 cm: a difference of 6 cm (≥ 4 cm)."
    assert asymmetry.threshold == "faber_difference_cm"
    assert (
        asymmetry.sources[0].label
        == "Figure-4 (FABER), left, trial 1: knee height above the surface 18 cm"
    )
    positive = findings["faber_positive:right"]
    assert "pain 5/10 (groin)" in positive.detail
    # Groin pain points at the adductors too.
    assert positive.targets == (Target.HIP_EXTERNAL_ROTATORS, Target.ADDUCTORS_QUADS)


def test_thresholds_are_configurable_and_unknown_names_are_refused() -> None:
    values = {"faber.left.1.faber_height_cm": 16, "faber.right.1.faber_height_cm": 12}
    assert keyed(derive(values))
    assert not keyed(derive(values, faber_difference_cm=5))
    with pytest.raises(ImproperlyConfigured, match="unknown threshold 'faber_cm'"):
        thresholds_with({"faber_cm": 3})
    with pytest.raises(ImproperlyConfigured, match="must be a number"):
        thresholds_with({"faber_difference_cm": "four"})
    # A stored finding keeps its threshold in a DECIMAL(6, 2): refused at start-up, not when a
    # clinician completes an assessment.
    for bad in (-1, 10_000, 4.005):
        with pytest.raises(ImproperlyConfigured, match=r"from 0 to 9999\.99"):
            thresholds_with({"faber_difference_cm": bad})


def test_every_test_has_rules_and_every_threshold_a_source() -> None:
    assert set(RULES) == set(PROTOCOLS)
    for name, threshold in DEFAULT_THRESHOLDS.items():
        assert threshold.source, name
        assert threshold.value > 0 or name == "aslr_positive_sum"
    assert DEFAULT_THRESHOLDS["faber_difference_cm"].value == Decimal(4)
    assert DEFAULT_THRESHOLDS["ktw_difference_cm"].value == Decimal(2)
    assert DEFAULT_THRESHOLDS["fppa_difference_deg"].value == Decimal(8)
    assert DEFAULT_THRESHOLDS["fppa_male_max_deg"].uncertain


def test_no_results_find_nothing() -> None:
    assert derive({}) == []
    assert derive({"aslr.left.1.notes": "comfortable"}) == []


def test_cleared_values_are_ignored() -> None:
    values = {ValueAddress("faber", "left", 1, "faber_height_cm"): None}
    assert findings_derive(values, context=Context()) == []


def test_every_finding_has_plain_words_for_the_client() -> None:
    # The cases of PROTOCOLS.md, and the tests they leave out.
    more = {
        "knee_to_wall.left.1.ktw_cm": 7,
        "knee_to_wall.right.1.ktw_cm": 11,
        "modified_thomas.left.1.thigh_above_horizontal": True,
        "modified_thomas.left.1.knee_angle_deg": 50,
    }
    found = {
        finding.identity: finding
        for values in [*(values for _, values, _ in CASES), more]
        for finding in derive(values)
    }
    assert {finding.key for finding in found.values()} == set(PLAIN_WORDS)
    for finding in found.values():
        plain = finding_in_plain_words(finding)
        assert plain.identity == finding.identity
        assert plain.title != finding.title
        assert "{" not in plain.title + plain.detail
        if finding.side:
            assert finding.side in plain.title
