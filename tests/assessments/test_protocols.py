"""Each protocol's fields accept what PROTOCOLS.md allows and refuse the rest, with a message
that says what is accepted."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessments.protocols import (
    PROTOCOLS,
    Kind,
    ValueAddress,
    ValueRefused,
    address_check,
    address_parse,
    value_clean,
)

# (protocol, field, minimum, maximum, step) from PROTOCOLS.md ([design] ranges).
NUMERIC_RANGES = [
    ("aslr", "aslr_score", 0, 5, 1),
    ("aslr", "slr_angle_deg", 0, 120, Decimal("0.5")),
    ("faber", "faber_height_cm", 0, 40, Decimal("0.5")),
    ("lunge", "fppa_deg", -30, 40, Decimal("0.5")),
    ("knee_to_wall", "ktw_cm", 0, 25, Decimal("0.5")),
    ("modified_thomas", "knee_angle_deg", 0, 180, Decimal("0.5")),
    ("single_leg_stance", "pelvic_drop_cm", 0, 10, Decimal("0.5")),
    *[(key, "pain", 0, 10, 1) for key in PROTOCOLS],
]


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
    assert PROTOCOLS["lunge"].trials == 3
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


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_number_is_either_kept_inside_the_range_or_refused(data) -> None:
    protocol, field, low, high, step = data.draw(st.sampled_from(NUMERIC_RANGES))
    raw = data.draw(
        st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=8)
    )
    try:
        stored = clean(protocol, field, raw)
    except ValueRefused:
        return
    if stored is None:
        assert str(raw).strip() == ""
        return
    assert Decimal(low) <= Decimal(str(stored)) <= Decimal(high)
    assert (Decimal(str(stored)) / Decimal(step)) % 1 == 0


def test_off_step_and_fractional_values_are_refused() -> None:
    with pytest.raises(ValueRefused, match=r"steps of 0\.5 cm"):
        clean("knee_to_wall", "ktw_cm", "10.3")
    with pytest.raises(ValueRefused, match="whole number"):
        clean("aslr", "aslr_score", "2.5")
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", "twelve")
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", True)
    with pytest.raises(ValueRefused, match="number"):
        clean("faber", "faber_height_cm", "NaN")


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
    for bad, message in [
        ("lunge.right.4.fppa_deg", "trials 1 to 3"),
        ("faber.left.2.faber_height_cm", "trial 1 only"),
        ("faber.middle.1.faber_height_cm", "left or right"),
        ("yoga.left.1.pose", "Unknown test"),
        ("faber.left.1.fppa_deg", "no field"),
        ("faber.left.one.faber_height_cm", "Unknown field"),
        ("faber.left", "Unknown field"),
        (None, "Unknown field"),
    ]:
        with pytest.raises(ValueRefused, match=message):
            address_parse(bad)
    with pytest.raises(ValueRefused):
        address_check("faber", "left", True, "faber_height_cm")


def test_every_field_kind_has_a_display() -> None:
    assert PROTOCOLS["faber"].field("faber_height_cm").display(12.5) == "12.5 cm"
    assert PROTOCOLS["lunge"].field("fppa_deg").display(-4) == "-4°"
    assert PROTOCOLS["knee_to_wall"].field("heel_lifted").display(True) == "Yes"
    assert PROTOCOLS["lunge"].field("knee_position").display("lateral") == "Outside the foot"
    assert PROTOCOLS["aslr"].field("notes").display(None) == "—"
    kinds = {f.kind for p in PROTOCOLS.values() for f in p.all_fields}
    assert kinds == set(Kind)
