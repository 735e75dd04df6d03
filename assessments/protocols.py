"""The guided tests, as data: fields, units, valid ranges, what the client is asked to do and
which camera view each needs. The specification is ../shared/PROTOCOLS.md; ranges marked
[design] there are our own input checks.

Adding a test is adding one ``Protocol`` to ``PROTOCOLS`` here and its finding rules to
``assessments.findings.RULES``: nothing in the database names the tests, so no migration.
Every value is recorded per side (the person's left or right) and trial, so results are
addressed as (protocol, side, trial, field). A test declares how many trials it has (up to
three, where a measurement is repeated and averaged); a field rated once per side (``once``)
is recorded in trial 1 only.
"""

import math
import unicodedata
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    CHOICE = "choice"
    BOOLEAN = "boolean"
    TEXT = "text"


class CameraView(StrEnum):
    FRONT = "front"
    SIDE = "side"
    BACK = "back"


SIDES = ("left", "right")
SIDE_LABELS = {"left": "Left", "right": "Right"}
MAX_TRIALS = 3
YES_NO = (("yes", "Yes"), ("no", "No"))


class ValueRefused(Exception):
    """A value outside what a field accepts; ``message`` is shown next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: Kind
    unit: str = ""
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    step: Decimal | None = None
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = 0
    help: str = ""
    # Shown in the clinician's panel as the test's main measurement.
    primary: bool = False
    # Decimal places kept (decimal fields without a step in the specification).
    decimals: int = 1
    # Rated or set once per side (the Mens score, the footwear), not per trial.
    once: bool = False
    # A short name for live readings and summaries ("FPPA"); the label if empty.
    short_label: str = ""
    # A measurement the findings compare left against right: the panel shows the mean of each
    # side's trials and their difference live.
    compared: bool = False
    # Set by the protocol: how many trials this field is recorded in.
    trials: int = 1
    # The label on the client's results page, where the clinician's is jargon ("FPPA").
    client_label: str = ""

    @property
    def label_for_client(self) -> str:
        return self.client_label or self.label

    def clean(self, raw: Any) -> Any:
        """The stored form of ``raw``, or ValueRefused saying what is accepted.

        ``raw`` is whatever a page or a socket frame sent: any JSON shape. None or an empty
        string clears the field.
        """
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if self.kind == Kind.INTEGER:
            return int(self._number(raw))
        if self.kind == Kind.DECIMAL:
            number = self._number(raw)
            # Whole numbers are stored as int so that 12 and 12.0 are one value.
            return int(number) if number == number.to_integral_value() else float(number)
        if self.kind == Kind.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            answer = raw.strip().lower() if isinstance(raw, str) else None
            if answer in ("yes", "true", "on"):
                return True
            if answer in ("no", "false"):
                return False
            raise ValueRefused("Choose yes or no.")
        if self.kind == Kind.CHOICE:
            if not isinstance(raw, str):
                raise ValueRefused("Choose one of the listed options.")
            text = raw.strip()
            if text in dict(self.choices):
                return text
            # A label typed in full (an addendum's free-text value) means its option.
            by_label = {label.lower(): key for key, label in self.choices}
            if text.lower() in by_label:
                return by_label[text.lower()]
            raise ValueRefused("Choose one of the listed options.")
        if not isinstance(raw, str):
            raise ValueRefused("Enter text.")
        text = raw.strip()
        if len(text) > self.max_length:
            raise ValueRefused(f"Keep it under {self.max_length} characters.")
        # PostgreSQL's jsonb cannot hold NUL, and other control characters are never typed.
        if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in text):
            raise ValueRefused("Remove the control characters.")
        return text

    def _number(self, raw: Any) -> Decimal:
        # A boolean is an int to Python, and str() of a list or an object could spell a number.
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            raise ValueRefused("Enter a number.")
        try:
            number = Decimal(str(raw).strip().replace(",", "."))
        except (InvalidOperation, ValueError):
            raise ValueRefused("Enter a number.") from None
        if not number.is_finite():
            raise ValueRefused("Enter a number.")
        unit = f" {self.unit}" if self.unit and self.unit != "°" else self.unit
        if (
            self.minimum is not None
            and self.maximum is not None
            and not self.minimum <= number <= self.maximum
        ):
            raise ValueRefused(
                f"Enter a value from {_plain(self.minimum)} to {_plain(self.maximum)}{unit}."
            )
        if self.kind == Kind.INTEGER and number != number.to_integral_value():
            raise ValueRefused("Enter a whole number.")
        if self.step is not None and (number / self.step) != (number / self.step).to_integral():
            # The nearest values the rule accepts, so the clinician need not work them out
            # (every caller, the socket and the form without JavaScript, shows this message).
            nearest = " or ".join(_plain(value) for value in self._steps_around(number))
            raise ValueRefused(f"Use steps of {_plain(self.step)}{unit}: {nearest}{unit}.")
        if self.kind == Kind.DECIMAL and -number.normalize().as_tuple().exponent > self.decimals:
            places = "one decimal place" if self.decimals == 1 else f"{self.decimals} decimals"
            raise ValueRefused(f"Use at most {places}.")
        return number

    def _steps_around(self, number: Decimal) -> list[Decimal]:
        """The accepted values on either side of an off-step ``number``, within the range."""
        below = (number / self.step).to_integral_value(rounding=ROUND_FLOOR) * self.step
        return [
            value
            for value in (below, below + self.step)
            if (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
        ]

    @property
    def short(self) -> str:
        return self.short_label or self.label

    @property
    def input_attributes(self) -> dict[str, str]:
        """min, max and step for an <input type="number">."""
        attributes = {}
        if self.minimum is not None:
            attributes["min"] = _plain(self.minimum)
        if self.maximum is not None:
            attributes["max"] = _plain(self.maximum)
        if self.kind == Kind.INTEGER:
            attributes["step"] = "1"
        elif self.step is not None:
            attributes["step"] = _plain(self.step)
        elif self.kind == Kind.DECIMAL:
            attributes["step"] = _plain(Decimal(1).scaleb(-self.decimals))
        return attributes

    def display(self, value: Any) -> str:
        """A stored value as people read it."""
        if value is None:
            return "—"
        if self.kind == Kind.BOOLEAN:
            return "Yes" if value else "No"
        if self.kind == Kind.CHOICE:
            return dict(self.choices).get(value, str(value))
        if self.kind in (Kind.INTEGER, Kind.DECIMAL):
            number = _plain(Decimal(str(value)))
            return f"{number}{self.unit}" if self.unit == "°" else f"{number} {self.unit}".strip()
        return str(value)


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


@dataclass(frozen=True)
class Protocol:
    key: str
    name: str
    purpose: str
    camera_view: CameraView
    # Where the camera goes and what must be in the picture, for the client.
    framing: str
    # What the client is asked to do, one step per line, in plain words.
    instructions: tuple[str, ...]
    # For the clinician: how to score it, with the source. ``{name}`` stands for a threshold of
    # assessments.findings, written in as configured (see ``findings.scoring_text``).
    scoring: str
    fields: tuple[Field, ...]
    trials: int = 1
    optional: bool = False
    pain_locations: tuple[tuple[str, str], ...] = ()
    # Fields a camera can measure (see the pose analysis).
    measurable: tuple[str, ...] = ()
    side_label: str = "Side"
    # The test's fields and the shared ones, each with its number of trials (set below).
    all_fields: tuple[Field, ...] = dataclass_field(
        default=(), init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        assert 1 <= self.trials <= MAX_TRIALS
        location = (
            Field("pain_location", "Where it hurt", Kind.CHOICE, choices=self.pain_locations)
            if self.pain_locations
            else Field("pain_location", "Where it hurt", Kind.TEXT, max_length=200)
        )
        # Shared fields on every test result (PROTOCOLS.md): side and trial are the address.
        shared = (
            Field(
                "pain",
                "Pain during the test",
                Kind.INTEGER,
                minimum=Decimal(0),
                maximum=Decimal(10),
                help="0 = no pain, 10 = worst pain imaginable",
            ),
            location,
            Field("notes", "Notes", Kind.TEXT, max_length=1000),
        )
        resolved = tuple(
            replace(f, trials=1 if f.once else self.trials) for f in (*self.fields, *shared)
        )
        # A frozen dataclass sets a derived attribute this way.
        object.__setattr__(self, "all_fields", resolved)
        keys = [f.key for f in resolved]
        assert len(keys) == len(set(keys)), f"duplicate field in {self.key}"

    @property
    def shared_fields(self) -> tuple[Field, ...]:
        return self.all_fields[len(self.fields) :]

    def field(self, key: str) -> Field:
        definition = self.field_or_none(key)
        if definition is None:
            raise ValueRefused(f"{self.name} has no field “{str(key)[:40]}”.")
        return definition

    def field_or_none(self, key: str) -> Field | None:
        return next((f for f in self.all_fields if f.key == key), None)

    @property
    def measured_field(self) -> Field | None:
        """The field a camera measures for this test, if any."""
        return self.field(self.measurable[0]) if self.measurable else None

    @property
    def view_label(self) -> str:
        return {
            CameraView.FRONT: "Front view",
            CameraView.SIDE: "Side view",
            CameraView.BACK: "View from behind",
        }[self.camera_view]

    def prompt(self, *, number: int, total: int) -> dict[str, Any]:
        """What the client's screen shows for this step (sent over the room socket)."""
        return {
            "step": self.key,
            "number": number,
            "total": total,
            "title": self.name,
            "instructions": list(self.instructions),
            "view": self.camera_view.value,
            "viewLabel": self.view_label,
            "framing": self.framing,
        }


ASLR = Protocol(
    key="aslr",
    name="Active straight leg raise",
    purpose="Load transfer through the pelvis, and how far the straight leg rises.",
    camera_view=CameraView.SIDE,
    framing="Put the camera at hip height, side-on to you, with your whole body in the picture.",
    instructions=(
        "Lie on your back with your legs straight and your feet about 20 cm apart.",
        "Keeping the knee straight, lift one leg about 5 cm off the floor, then lower it.",
        "Say how hard it was, from 0 (not difficult at all) to 5 (unable to do it).",
        "Do the same with the other leg. Your clinician may ask you to raise each leg up to "
        "three times to measure how high it goes.",
    ),
    scoring=(
        "Mens ASLR: score each side 0–5; a sum of {aslr_positive_sum} or more is positive "
        "(Mens et al. 2012); one side {aslr_side_difference} or more above the other is flagged "
        "(our choice: no published threshold). Leg raise angle with the knee straight and the "
        "opposite leg flat; normal about 57° ± 17 plantarflexed (Boyd & Villa 2012); a "
        "difference of the sides' means above {slr_angle_difference_deg} is flagged."
    ),
    fields=(
        Field(
            "aslr_score",
            "Difficulty (Mens 0–5)",
            Kind.INTEGER,
            client_label="How hard it was (0 = not at all, 5 = could not do it)",
            minimum=Decimal(0),
            maximum=Decimal(5),
            help="0 = not difficult at all, 5 = unable to do",
            primary=True,
            once=True,
        ),
        Field(
            "slr_angle_deg",
            "Leg raise angle",
            Kind.DECIMAL,
            unit="°",
            minimum=Decimal(0),
            maximum=Decimal(120),
            short_label="leg raise angle",
            compared=True,
        ),
        Field(
            "ankle_position",
            "Ankle during the raise",
            Kind.CHOICE,
            choices=(("plantarflexed", "Toes pointed"), ("dorsiflexed", "Toes pulled up")),
            once=True,
        ),
    ),
    trials=3,
    measurable=("slr_angle_deg",),
    side_label="Raised leg",
)

SEATED_CROSS_LEGGED = Protocol(
    key="seated_cross_legged",
    name="Seated cross-legged screen",
    purpose="A quick look at which hip is stiffer in flexion, abduction and external rotation.",
    camera_view=CameraView.FRONT,
    framing="Put the camera low, facing you, so both knees and your hips are in the picture.",
    instructions=(
        "Sit on the floor with your legs crossed, back upright.",
        "Let both knees relax down toward the floor. Do not push them.",
        "Say whether one hip feels tighter than the other.",
    ),
    scoring=(
        "A screen only: no validated measure of the seated position exists. Note which knee "
        "sits higher and where tightness is felt; measure with the figure-4 test."
    ),
    fields=(
        Field("sits_higher", "This knee sits higher", Kind.BOOLEAN, primary=True),
        Field("tightness_felt", "Tightness felt in this hip", Kind.BOOLEAN),
    ),
)

FABER = Protocol(
    key="faber",
    name="Figure-4 (FABER)",
    purpose="Hip flexion, abduction and external rotation mobility, left against right.",
    camera_view=CameraView.FRONT,
    framing="Put the camera at floor height at your feet, facing you, with both knees in view.",
    instructions=(
        "Lie on your back with both legs straight.",
        "Put the outside of one ankle on the other knee, making a figure 4.",
        "Let the bent knee fall toward the floor and relax there.",
        "Hold still while your clinician reads the height of your knee, then swap legs.",
        "Your clinician may ask you to repeat it up to three times on each side.",
    ),
    scoring=(
        "Height of the lateral knee above the surface; normal 12.4 ± 2.8 cm, MDC 3.7 cm; a "
        "difference of {faber_difference_cm} or more between the sides' means is flagged "
        "(IJSPT 2016, PMID 27999724). "
        "Positive if pain is reproduced or the knee stays above the opposite leg."
    ),
    fields=(
        Field(
            "faber_height_cm",
            "Knee height above the surface",
            Kind.DECIMAL,
            unit="cm",
            minimum=Decimal(0),
            maximum=Decimal(40),
            primary=True,
            short_label="FABER height",
            compared=True,
        ),
        Field("knee_above_opposite_leg", "Knee stays above the opposite leg", Kind.BOOLEAN),
    ),
    pain_locations=(
        ("groin", "Groin"),
        ("buttock_si", "Buttock or SI joint"),
        ("lateral_hip", "Outside of the hip"),
    ),
    trials=3,
)

LUNGE = Protocol(
    key="lunge",
    name="Lunge knee tracking",
    purpose="Whether the knee tracks over the foot or collapses inward (valgus).",
    camera_view=CameraView.FRONT,
    framing=(
        "Put the camera at knee height, square to you, with your hips and both feet in the picture."
    ),
    instructions=(
        "Stand facing the camera, feet hip-width apart.",
        "Step into a lunge and lower slowly, then come back up.",
        "Keep your knee in line with the middle of your foot.",
        "Do three on each side, as your clinician asks.",
    ),
    scoring=(
        "Rate where the knee goes at the lowest point: outside the foot, over the middle of the "
        "foot (good), over the big toe, or inside it. Optional FPPA (frontal plane projection "
        "angle, positive = valgus), mean of three trials (Munro, Herrington & Carolan 2012); "
        "a side difference of {fppa_difference_deg} or more exceeds the detectable difference; "
        "a mean above {fppa_female_max_deg} for women (Herrington 2014) or "
        "{fppa_male_max_deg} for men is above the control reference."
    ),
    fields=(
        Field(
            "knee_position",
            "Knee at the lowest point",
            Kind.CHOICE,
            choices=(
                ("lateral", "Outside the foot"),
                ("over_mid_foot", "Over the middle of the foot (good)"),
                ("over_big_toe", "Over the big toe"),
                ("medial_to_big_toe", "Inside the big toe"),
            ),
            primary=True,
        ),
        Field(
            "fppa_deg",
            "FPPA (valgus +)",
            Kind.DECIMAL,
            client_label="Angle of the knee inward, seen from the front",
            unit="°",
            minimum=Decimal(-30),
            maximum=Decimal(40),
            short_label="FPPA",
            compared=True,
        ),
        Field(
            "task",
            "Task",
            Kind.CHOICE,
            choices=(
                ("forward_lunge", "Forward lunge"),
                ("reverse_lunge", "Reverse lunge"),
                ("single_leg_squat", "Single-leg squat"),
                ("step_down", "Step-down"),
            ),
        ),
        Field("hip_drop", "Hip drop seen", Kind.BOOLEAN),
    ),
    trials=3,
    measurable=("fppa_deg",),
)

KNEE_TO_WALL = Protocol(
    key="knee_to_wall",
    name="Knee-to-wall (ankle)",
    purpose="Ankle dorsiflexion in a weight-bearing lunge.",
    camera_view=CameraView.SIDE,
    framing=(
        "Put the camera side-on at floor height, with your heel, your knee, the wall and the tape "
        "measure in the picture."
    ),
    instructions=(
        "Face a wall with one foot on the tape line, toes toward the wall.",
        "Keep the heel down and bend the knee forward until it touches the wall, knee over the "
        "middle toe.",
        "Slide the foot back a little at a time until the knee only just touches the wall.",
        "Hold there while your clinician reads the distance, then swap feet.",
        "Your clinician may ask you to repeat it up to three times on each side.",
    ),
    scoring=(
        "Distance from the big toe to the wall; ICC 0.97–0.99 (Bennell 1998), MDC 1.6–1.9 cm "
        "(Powden 2015): a difference of the sides' means of {ktw_difference_cm} or more is "
        "flagged; under {ktw_restricted_below_cm} is restricted. 1 cm ≈ 3.6°."
    ),
    fields=(
        Field(
            "ktw_cm",
            "Toe-to-wall distance",
            Kind.DECIMAL,
            unit="cm",
            minimum=Decimal(0),
            maximum=Decimal(25),
            # The one field with steps in the specification.
            step=Decimal("0.5"),
            primary=True,
            short_label="knee-to-wall",
            compared=True,
        ),
        Field("heel_lifted", "Heel lifted", Kind.BOOLEAN),
        Field("knee_drifted_in", "Knee drifted inward", Kind.BOOLEAN),
        Field(
            "footwear",
            "Footwear",
            Kind.CHOICE,
            choices=(("barefoot", "Barefoot"), ("shod", "Shoes on")),
            once=True,
        ),
    ),
    trials=3,
)

MODIFIED_THOMAS = Protocol(
    key="modified_thomas",
    name="Modified Thomas test",
    purpose="Hip flexor length (a screen: reliability is poor).",
    camera_view=CameraView.SIDE,
    framing="Put the camera side-on at the height of the bed, with your hips and knees in view.",
    instructions=(
        "Sit at the very end of a firm bed and hug one knee to your chest.",
        "Roll back onto the bed, still hugging the knee.",
        "Let the other leg hang down over the end of the bed and relax.",
        "Stay there while your clinician looks, then swap legs.",
    ),
    scoring=(
        "Thigh above horizontal: short one-joint hip flexors; knee angle under "
        "{thomas_knee_angle_below_deg}: short two-joint flexors. Kappa 0.33–0.47 (Peeler & "
        "Anderson): a screen only."
    ),
    fields=(
        Field(
            "thigh_above_horizontal",
            "Thigh above horizontal",
            Kind.BOOLEAN,
            primary=True,
            client_label="Hanging thigh stayed above level",
        ),
        Field(
            "knee_angle_deg",
            "Knee angle",
            Kind.DECIMAL,
            client_label="Bend of the hanging knee",
            unit="°",
            minimum=Decimal(0),
            maximum=Decimal(180),
        ),
    ),
    optional=True,
    side_label="Tested leg (hanging)",
)

SINGLE_LEG_STANCE = Protocol(
    key="single_leg_stance",
    name="Single-leg stance (Trendelenburg)",
    purpose="Whether the gluteus medius holds the pelvis level.",
    camera_view=CameraView.BACK,
    framing="Stand with your back to the camera, far enough away that your hips and feet show.",
    instructions=(
        "Stand with your back to the camera, feet hip-width apart.",
        "Lift one foot off the floor and stand on the other leg for 30 seconds.",
        "Keep your hips level if you can. Then swap legs.",
    ),
    scoring=(
        "Record per standing leg whether the pelvis drops on the lifted side; a drop of more "
        "than {pelvic_drop_above_cm} is positive. When the drop is measured, the threshold "
        "decides; when it is only seen, your observation does."
    ),
    fields=(
        Field("pelvic_drop", "Pelvis drops on the lifted side", Kind.BOOLEAN, primary=True),
        Field(
            "pelvic_drop_cm",
            "Drop",
            Kind.DECIMAL,
            client_label="How far the hip dropped",
            unit="cm",
            minimum=Decimal(0),
            maximum=Decimal(10),
        ),
        Field(
            "pelvic_tilt_deg",
            "Pelvic tilt (lifted side down +)",
            Kind.DECIMAL,
            client_label="Tilt of the hips (lifted side lower: more than 0)",
            unit="°",
            minimum=Decimal(-20),
            maximum=Decimal(20),
            help="From the camera: the tilt of the line between the hips",
            short_label="pelvic tilt",
        ),
    ),
    optional=True,
    side_label="Standing leg",
    measurable=("pelvic_tilt_deg",),
)

PROTOCOLS: dict[str, Protocol] = {
    protocol.key: protocol
    for protocol in (
        ASLR,
        SEATED_CROSS_LEGGED,
        FABER,
        LUNGE,
        KNEE_TO_WALL,
        MODIFIED_THOMAS,
        SINGLE_LEG_STANCE,
    )
}

TELEHEALTH_CAVEAT = (
    "Remote measurement of range of motion, strength, balance and function agrees well with "
    "in-person assessment; special orthopaedic tests less so (Mani et al. 2016). Knee diagnosis "
    "matched in-person exactly in 67% of cases, kappa 0.635 (Richardson et al. 2016)."
)


def protocol_get(key: Any) -> Protocol:
    if not isinstance(key, str) or key not in PROTOCOLS:
        raise ValueRefused("Unknown test.")
    return PROTOCOLS[key]


@dataclass(frozen=True)
class ValueAddress:
    """Where a value lives: which test, side, trial and field."""

    protocol: str
    side: str
    trial: int
    field: str

    @property
    def key(self) -> str:
        return f"{self.protocol}.{self.side}.{self.trial}.{self.field}"


def trial_check(definition: Protocol, trial: Any) -> int:
    """``trial`` if the test has it, or ValueRefused saying which trials it has."""
    if isinstance(trial, bool) or not isinstance(trial, int) or not 1 <= trial <= definition.trials:
        raise ValueRefused(
            f"{definition.name} has trial 1 only."
            if definition.trials == 1
            else f"{definition.name} has trials 1 to {definition.trials}."
        )
    return trial


def address_check(protocol: Any, side: Any, trial: Any, field_key: Any) -> ValueAddress:
    """The address of a value, or ValueRefused if the test has no such side, trial or field."""
    definition = protocol_get(protocol)
    if side not in SIDES:
        raise ValueRefused("Side must be left or right.")
    trial_check(definition, trial)
    field = definition.field(field_key)
    if trial > field.trials:
        raise ValueRefused(f"{field.label} is recorded once, in trial 1.")
    return ValueAddress(protocol=definition.key, side=side, trial=trial, field=field_key)


def address_parse(key: Any) -> ValueAddress:
    """``"lunge.left.2.fppa_deg"`` → its address, checked."""
    if not isinstance(key, str) or key.count(".") != 3 or len(key) > 100:
        raise ValueRefused("Unknown field.")
    protocol, side, trial, field_key = key.split(".")
    # str.isdigit() is also true of "²" and "٣", which int() refuses or reads as 3.
    if not (trial.isascii() and trial.isdigit()):
        raise ValueRefused("Unknown field.")
    return address_check(protocol, side, int(trial), field_key)


def value_clean(address: ValueAddress, raw: Any) -> Any:
    return PROTOCOLS[address.protocol].field(address.field).clean(raw)


@dataclass(frozen=True)
class StepLayout:
    """One test as the clinician's panel lays it out: a row per field, a column per side and
    trial."""

    protocol: Protocol
    columns: tuple[tuple[str, int], ...] = dataclass_field(default=())

    @classmethod
    def of(cls, protocol: Protocol) -> "StepLayout":
        return cls(
            protocol=protocol,
            columns=tuple(
                (side, trial) for trial in range(1, protocol.trials + 1) for side in SIDES
            ),
        )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
