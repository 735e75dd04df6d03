"""Each protocol's fields accept what PROTOCOLS.md allows and refuse the rest, with a message
that says what is accepted."""

import json
import unicodedata
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from assessments.findings import RULES, Context, Results, Target
from assessments.findings import Finding as FindingResult
from assessments.protocols import (
    PROTOCOLS,
    CameraView,
    Field,
    Kind,
    Protocol,
    ValueAddress,
    ValueRefused,
    address_check,
    address_parse,
    value_clean,
)
from assessments.services import assessment_complete, assessment_step_set, assessment_value_save
from clinic.audit import SYSTEM

# (protocol, field, minimum, maximum, step) from PROTOCOLS.md ([design] ranges). Only the
# knee-to-wall has steps in the specification (0.5 cm); the other measurements are kept to one
# decimal, scores and pain to whole numbers.
TENTH = Decimal("0.1")
NUMERIC_RANGES = [
    ("aslr", "aslr_score", 0, 5, 1),
    ("aslr", "slr_angle_deg", 0, 120, TENTH),
    ("faber", "faber_height_cm", 0, 40, TENTH),
    ("lunge", "fppa_deg", -30, 40, TENTH),
    ("knee_to_wall", "ktw_cm", 0, 25, Decimal("0.5")),
    ("modified_thomas", "knee_angle_deg", 0, 180, TENTH),
    ("single_leg_stance", "pelvic_drop_cm", 0, 10, TENTH),
    ("single_leg_stance", "pelvic_tilt_deg", -20, 20, TENTH),
    *[(key, "pain", 0, 10, 1) for key in PROTOCOLS],
]
SPECIFIED = {
    (protocol, field): (low, high, step) for protocol, field, low, high, step in NUMERIC_RANGES
}


def clean(protocol: str, field: str, raw: object, *, side: str = "left", trial: int = 1):
    return value_clean(ValueAddress(protocol, side, trial, field), raw)


def test_the_tests_of_protocols_md_are_defined_with_their_views() -> None:
    assert list(PROTOCOLS) == [
        "aslr",
        "seated_cross_legged",
        "faber",
        "lunge",
        "knee_to_wall",
        "modified_thomas",
        "single_leg_stance",
    ]
    views = {key: protocol.camera_view.value for key, protocol in PROTOCOLS.items()}
    assert views["aslr"] == "side"
    assert views["faber"] == "front"
    assert views["lunge"] == "front"
    assert views["knee_to_wall"] == "side"
    assert PROTOCOLS["modified_thomas"].optional
    assert PROTOCOLS["single_leg_stance"].optional
    # Up to three trials where a measurement is repeated and averaged (PROTOCOLS.md: trial
    # 1–3 on every result); one for the screens.
    trials = {key: protocol.trials for key, protocol in PROTOCOLS.items()}
    assert trials == {
        "aslr": 3,
        "seated_cross_legged": 1,
        "faber": 3,
        "lunge": 3,
        "knee_to_wall": 3,
        "modified_thomas": 1,
        "single_leg_stance": 1,
    }
    # What is rated or set once per side is recorded once, in trial 1.
    once = {
        (key, f.key)
        for key, protocol in PROTOCOLS.items()
        for f in protocol.all_fields
        if f.trials == 1 and protocol.trials > 1
    }
    assert once == {
        ("aslr", "aslr_score"),
        ("aslr", "ankle_position"),
        ("knee_to_wall", "footwear"),
    }
    for protocol in PROTOCOLS.values():
        # Shared fields on every result: pain 0–10, where, notes.
        assert {"pain", "pain_location", "notes"} <= {f.key for f in protocol.all_fields}
        assert protocol.instructions
        assert protocol.framing


@pytest.mark.parametrize(("protocol", "field", "low", "high", "step"), NUMERIC_RANGES)
def test_numbers_at_the_ends_of_the_range_are_kept(protocol, field, low, high, step) -> None:
    assert clean(protocol, field, low) == low
    assert clean(protocol, field, str(high)) == high


@pytest.mark.parametrize(("protocol", "field", "low", "high", "step"), NUMERIC_RANGES)
def test_numbers_outside_the_range_are_refused_saying_the_range(
    protocol, field, low, high, step
) -> None:
    unit = PROTOCOLS[protocol].field(field).unit
    for outside in (Decimal(low) - step, Decimal(high) + step):
        with pytest.raises(ValueRefused) as refused:
            clean(protocol, field, str(outside))
        assert f"from {low} to {high}" in refused.value.message
        if unit:
            assert unit in refused.value.message


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_value_on_the_step_inside_the_range_is_kept_exactly(data) -> None:
    protocol, field, low, high, step = data.draw(st.sampled_from(NUMERIC_RANGES))
    steps = int((Decimal(high) - Decimal(low)) / Decimal(step))
    value = Decimal(low) + Decimal(step) * data.draw(st.integers(0, steps))
    stored = clean(protocol, field, str(value))
    assert Decimal(str(stored)) == value


# Anything a page (or a forged frame) can send as a value: JSON's every shape, numbers far out
# of range, the spellings of not-a-number, control characters, and the fields' own options.
EVERY_FIELD = [(protocol.key, f) for protocol in PROTOCOLS.values() for f in protocol.all_fields]
OPTIONS = sorted(
    {key for _, f in EVERY_FIELD for key, _ in f.choices}
    | {label for _, f in EVERY_FIELD for _, label in f.choices}
    | {"yes", "no", "true", "false", "on"}
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.just(10**4000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)
    | st.sampled_from(
        [
            "NaN",
            "nan",
            "-NaN",
            "sNaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e999",
            "1E+400",
            "1e-400",
            "12,5",
            " 7 ",
            "0x10",
            "1_0",
            "\x00",
            "a\x00b",
            "\u202e",
            "",
        ]
    )
    | st.sampled_from(OPTIONS)
    | st.text(max_size=12)
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_any_value_of_any_shape_is_either_kept_valid_or_refused(data) -> None:
    """Whatever arrives (a list for a choice, an object for a number, NaN, 10**4000, a NUL in
    a note), the field either stores a valid value of its kind or refuses it with a message:
    it never raises anything else, and never stores what the database or the rules cannot
    take."""
    protocol, definition = data.draw(st.sampled_from(EVERY_FIELD))
    raw = data.draw(ANY_VALUE)
    try:
        stored = definition.clean(raw)
    except ValueRefused as refused:
        message = refused.message
        assert message
        return
    json.dumps(stored, allow_nan=False)  # storable as JSON, as PostgreSQL's jsonb takes it
    if stored is None:
        assert raw is None or (isinstance(raw, str) and not raw.strip())
        return
    if definition.kind in (Kind.INTEGER, Kind.DECIMAL):
        assert isinstance(stored, int | float)
        assert not isinstance(stored, bool)
        # Held to PROTOCOLS.md's range and step, not to the definition under test.
        low, high, step = SPECIFIED[protocol, definition.key]
        assert Decimal(low) <= Decimal(str(stored)) <= Decimal(high)
        if definition.kind == Kind.INTEGER:
            assert isinstance(stored, int)
        assert (Decimal(str(stored)) / Decimal(step)) % 1 == 0
        assert Decimal(str(stored)).as_tuple().exponent >= -1  # at most one decimal
    elif definition.kind == Kind.BOOLEAN:
        assert isinstance(stored, bool)
    elif definition.kind == Kind.CHOICE:
        assert stored in dict(definition.choices)
    else:
        assert isinstance(stored, str)
        assert len(stored) <= definition.max_length
        assert not any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in stored)


@pytest.mark.parametrize(
    ("protocol", "field", "raw", "message"),
    [
        ("lunge", "knee_position", ["over_big_toe"], "listed options"),
        ("lunge", "knee_position", {"value": "lateral"}, "listed options"),
        ("faber", "pain_location", ["groin"], "listed options"),
        ("knee_to_wall", "heel_lifted", ["yes"], "yes or no"),
        ("knee_to_wall", "heel_lifted", {}, "yes or no"),
        ("knee_to_wall", "heel_lifted", 1, "yes or no"),
        ("knee_to_wall", "ktw_cm", [10], "number"),
        ("knee_to_wall", "ktw_cm", {"cm": 10}, "number"),
        ("aslr", "aslr_score", 10**4000, "from 0 to 5"),
        ("aslr", "notes", ["a note"], "Enter text"),
        ("aslr", "notes", "pain\x00free", "control characters"),
    ],
)
def test_values_of_the_wrong_shape_are_refused_with_a_message(
    protocol, field, raw, message
) -> None:
    with pytest.raises(ValueRefused, match=message):
        clean(protocol, field, raw)


def test_off_step_and_fractional_values_are_refused() -> None:
    with pytest.raises(ValueRefused, match=r"steps of 0\.5 cm"):
        clean("knee_to_wall", "ktw_cm", "10.3")
    # No steps where the specification has none: a typed FPPA of 12.3° is kept.
    assert clean("lunge", "fppa_deg", "12.3") == 12.3
    assert clean("aslr", "slr_angle_deg", "57.2") == 57.2
    assert clean("faber", "faber_height_cm", "12.4") == 12.4
    assert clean("modified_thomas", "knee_angle_deg", "66.9") == 66.9
    with pytest.raises(ValueRefused, match="at most one decimal"):
        clean("lunge", "fppa_deg", "12.34")
    with pytest.raises(ValueRefused, match="at most one decimal"):
        clean("faber", "faber_height_cm", "1e-9")
    with pytest.raises(ValueRefused, match="whole number"):
        clean("aslr", "aslr_score", "2.5")
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", "twelve")
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", True)
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", "NaN")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("9.2", "Use steps of 0.5 cm: 9 or 9.5 cm."),
        ("10,3", "Use steps of 0.5 cm: 10 or 10.5 cm."),
        ("9.25", "Use steps of 0.5 cm: 9 or 9.5 cm."),
        # At the ends of the range the neighbours are still inside it.
        ("0.2", "Use steps of 0.5 cm: 0 or 0.5 cm."),
        ("24.9", "Use steps of 0.5 cm: 24.5 or 25 cm."),
    ],
)
def test_an_off_step_value_is_told_the_nearest_valid_values(raw, message) -> None:
    with pytest.raises(ValueRefused) as refused:
        clean("knee_to_wall", "ktw_cm", raw)
    assert refused.value.message == message


def test_a_decimal_comma_is_read_as_a_point_and_whole_numbers_stay_whole() -> None:
    assert clean("knee_to_wall", "ktw_cm", "10,5") == 10.5
    assert clean("knee_to_wall", "ktw_cm", "11.0") == 11
    assert isinstance(clean("knee_to_wall", "ktw_cm", "11.0"), int)


def test_choices_booleans_and_text() -> None:
    assert clean("lunge", "knee_position", "medial_to_big_toe") == "medial_to_big_toe"
    # A label typed in full means its option (addenda have a free-text value).
    assert clean("lunge", "knee_position", "over the big toe") == "over_big_toe"
    with pytest.raises(ValueRefused, match="listed options"):
        clean("lunge", "knee_position", "wobbly")
    assert clean("faber", "pain_location", "groin") == "groin"
    with pytest.raises(ValueRefused, match="listed options"):
        clean("faber", "pain_location", "knee")
    assert clean("knee_to_wall", "heel_lifted", "yes") is True
    assert clean("knee_to_wall", "heel_lifted", False) is False
    with pytest.raises(ValueRefused, match="yes or no"):
        clean("knee_to_wall", "heel_lifted", "maybe")
    assert clean("aslr", "notes", "  felt fine  ") == "felt fine"
    with pytest.raises(ValueRefused, match="1000 characters"):
        clean("aslr", "notes", "x" * 1001)
    # An empty value clears the field.
    assert clean("aslr", "notes", "") is None
    assert clean("aslr", "aslr_score", None) is None


def test_addresses_name_a_real_test_side_trial_and_field() -> None:
    assert address_parse("lunge.right.3.fppa_deg") == ValueAddress("lunge", "right", 3, "fppa_deg")
    for repeated in (
        "aslr.left.3.slr_angle_deg",
        "aslr.left.2.pain",
        "faber.right.2.faber_height_cm",
        "knee_to_wall.left.3.ktw_cm",
        "knee_to_wall.left.2.knee_drifted_in",
    ):
        assert address_parse(repeated).key == repeated
    for bad, message in [
        ("lunge.right.4.fppa_deg", "trials 1 to 3"),
        ("seated_cross_legged.left.2.sits_higher", "trial 1 only"),
        ("knee_to_wall.left.4.ktw_cm", "trials 1 to 3"),
        ("aslr.left.2.aslr_score", "recorded once, in trial 1"),
        ("knee_to_wall.right.3.footwear", "recorded once, in trial 1"),
        ("faber.middle.1.faber_height_cm", "left or right"),
        ("yoga.left.1.pose", "Unknown test"),
        ("faber.left.1.fppa_deg", "no field"),
        ("faber.left.one.faber_height_cm", "Unknown field"),
        ("faber.left", "Unknown field"),
        # Digits that are not ASCII ("²".isdigit() is true, int("²") is an error).
        ("lunge.left.².fppa_deg", "Unknown field"),
        ("lunge.left.٣.fppa_deg", "Unknown field"),
        (["lunge", "left", 1, "fppa_deg"], "Unknown field"),
        (None, "Unknown field"),
    ]:
        with pytest.raises(ValueRefused, match=message):
            address_parse(bad)
    with pytest.raises(ValueRefused):
        address_check("faber", "left", True, "faber_height_cm")


def test_every_field_kind_has_a_display() -> None:
    assert PROTOCOLS["faber"].field("faber_height_cm").display(12.5) == "12.5 cm"
    assert PROTOCOLS["lunge"].field("fppa_deg").display(-4) == "-4°"
    assert PROTOCOLS["lunge"].field("fppa_deg").input_attributes == {
        "min": "-30",
        "max": "40",
        "step": "0.1",
    }
    assert PROTOCOLS["knee_to_wall"].field("ktw_cm").input_attributes["step"] == "0.5"
    assert PROTOCOLS["knee_to_wall"].field("heel_lifted").display(True) == "Yes"
    assert PROTOCOLS["lunge"].field("knee_position").display("lateral") == "Outside the foot"
    assert PROTOCOLS["aslr"].field("notes").display(None) == "—"
    kinds = {f.kind for p in PROTOCOLS.values() for f in p.all_fields}
    assert kinds == set(Kind)


# --- The registry is the one place a test is defined ------------------------------------------


@pytest.fixture
def wall_sit() -> Iterator[Protocol]:
    """A test that is not in the product: one definition and one rule, registered for the
    length of a test and nowhere else (no model, no migration)."""
    definition = Protocol(
        key="wall_sit",
        name="Wall sit",
        purpose="Quadriceps endurance.",
        camera_view=CameraView.SIDE,
        framing="Put the camera side-on, with your whole body and the wall in the picture.",
        instructions=("Slide down the wall until your knees are bent at a right angle.",),
        scoring="Held for less than 30 s is short.",
        fields=(
            Field(
                "hold_s",
                "Time held",
                Kind.INTEGER,
                unit="s",
                minimum=Decimal(0),
                maximum=Decimal(300),
                primary=True,
            ),
        ),
        trials=2,
    )

    def wall_sit_rules(results: Results, context: Context) -> list[FindingResult]:
        findings = []
        for side in ("left", "right"):
            hold = results.mean("wall_sit", side, "hold_s")
            if hold is not None and hold.value < 30:
                findings.append(
                    FindingResult(
                        key="wall_sit_short",
                        protocol="wall_sit",
                        side=side,
                        title=f"Short wall sit on the {side}",
                        detail=f"Held {hold.text('s')}.",
                        targets=(Target.ADDUCTORS_QUADS,),
                        sources=hold.sources,
                    )
                )
        return findings

    PROTOCOLS["wall_sit"] = definition
    RULES["wall_sit"] = wall_sit_rules
    try:
        yield definition
    finally:
        del PROTOCOLS["wall_sit"], RULES["wall_sit"]


@pytest.mark.django_db
def test_a_new_test_is_one_definition_and_one_rule_and_needs_no_migration(
    wall_sit, assessment, clinician, as_clinician
) -> None:
    # Nothing in the schema names the tests (no field choices, no constraint), so adding one
    # to the registry leaves the models and their migrations as they are.
    for model in apps.get_app_config("assessments").get_models():
        for model_field in model._meta.get_fields():
            choices = {str(choice) for choice, _ in getattr(model_field, "choices", None) or []}
            assert not choices & set(PROTOCOLS), (model.__name__, model_field.name)
        for constraint in model._meta.constraints:
            assert not any(key in str(constraint) for key in PROTOCOLS), constraint
    call_command("makemigrations", "assessments", "--check", "--dry-run", verbosity=0)

    # The panel has the new step, with its own inputs.
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert 'data-key="wall_sit.right.2.hold_s"' in page.content.decode()
    assessment_step_set(
        assessment_id=assessment.pk, actor=clinician.user, protocol="wall_sit", now=timezone.now()
    )
    for key, raw in (("wall_sit.left.1.hold_s", "20"), ("wall_sit.left.2.hold_s", "25")):
        saved = assessment_value_save(
            assessment_id=assessment.pk,
            actor=clinician.user,
            key=key,
            raw=raw,
            base_version=0,
            context=SYSTEM,
            now=timezone.now(),
        )
        assert saved.saved
    with pytest.raises(ValueRefused, match="from 0 to 300 s"):
        value_clean(address_parse("wall_sit.left.1.hold_s"), "301")
    assessment_complete(
        assessment=assessment, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )
    finding = assessment.findings.get()
    assert (finding.key, finding.side, finding.detail) == (
        "wall_sit_short",
        "left",
        "Held 22.5 s (mean of 2 trials).",
    )
    assert [source["trial"] for source in finding.sources] == [1, 2]
