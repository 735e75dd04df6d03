"""Findings: left/right differences and flags derived from test results.

Every threshold comes from ../shared/PROTOCOLS.md with its source; those marked uncertain come
from secondary summaries and are defaults to configure, not truths. ``ASSESSMENT_THRESHOLDS``
in the settings (environment variable ``ASSESSMENT_THRESHOLDS`` as JSON, e.g.
``{"faber_difference_cm": 5}``) overrides any of them; unknown names fail the system check.

Each finding names the results that produced it and the targets the home program should
address (PROTOCOLS.md section 6). Rules are plain functions of the results, one per test, in
``RULES``.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from assessments.protocols import (
    PROTOCOLS,
    SIDE_LABELS,
    SIDES,
    Protocol,
    ValueAddress,
    is_number,
)


class Target(StrEnum):
    """What a finding asks the home program to work on (PROTOCOLS.md section 6)."""

    ANKLE_DORSIFLEXION = "ankle_dorsiflexion"
    HIP_EXTERNAL_ROTATORS = "hip_external_rotators"
    HIP_FLEXORS = "hip_flexors"
    GLUTE_MED = "glute_med"
    ADDUCTORS_QUADS = "adductors_quads"

    @property
    def label(self) -> str:
        return TARGET_LABELS[self]


TARGET_LABELS = {
    Target.ANKLE_DORSIFLEXION: "Ankle dorsiflexion (calf, soleus, ankle mobility)",
    Target.HIP_EXTERNAL_ROTATORS: "Hip external rotators",
    Target.HIP_FLEXORS: "Hip flexors",
    Target.GLUTE_MED: "Gluteus medius (knee and pelvis control)",
    Target.ADDUCTORS_QUADS: "Adductors and quadriceps",
}


@dataclass(frozen=True)
class Threshold:
    value: Decimal
    unit: str
    meaning: str
    source: str
    uncertain: bool = False


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "aslr_positive_sum": Threshold(
        Decimal(1),
        "points",
        "Mens ASLR sum (both sides, 0–10) at or above which the test is positive",
        "Mens et al. 2012 (cut-off between 0 and 1)",
    ),
    "aslr_side_difference": Threshold(
        Decimal(2),
        "points",
        "one side's ASLR score higher than the other's by at least",
        "design choice: no published left/right threshold",
    ),
    "slr_angle_difference_deg": Threshold(
        Decimal(12),
        "°",
        "straight leg raise angle difference above",
        "Boyd & Villa 2012 (mean 5.0° + 2 SD 3.5°), our derivation",
        uncertain=True,
    ),
    "faber_difference_cm": Threshold(
        Decimal(4),
        "cm",
        "FABER height difference at or above",
        "IJSPT 2016, PMID 27999724 (MDC of the difference 4.0 cm)",
    ),
    "fppa_difference_deg": Threshold(
        Decimal(8),
        "°",
        "difference of the mean FPPA of the sides at or above",
        "Munro, Herrington & Carolan 2012 (smallest detectable difference 7.5–8.9°)",
    ),
    "fppa_female_max_deg": Threshold(
        Decimal("18.6"),
        "°",
        "mean FPPA above (women: control mean + 2 SD)",
        "Herrington 2014, Knee 21:514 (8.4° ± 5.1)",
    ),
    "fppa_male_max_deg": Threshold(
        Decimal(15),
        "°",
        "mean FPPA above (men, and when sex is not recorded)",
        "2021 study, secondary summary",
        uncertain=True,
    ),
    "ktw_difference_cm": Threshold(
        Decimal(2),
        "cm",
        "knee-to-wall difference at or above",
        "Powden 2015 (MDC 1.6–1.9 cm)",
    ),
    "ktw_restricted_below_cm": Threshold(
        Decimal(9),
        "cm",
        "knee-to-wall distance below which the ankle is restricted",
        "about normal − 1 SD (Hoch & McKeon 2011, secondary summary)",
        uncertain=True,
    ),
    "thomas_knee_angle_below_deg": Threshold(
        Decimal(67),
        "°",
        "modified Thomas knee angle below which two-joint hip flexors are short",
        "secondary summary",
        uncertain=True,
    ),
    "pelvic_drop_above_cm": Threshold(
        Decimal(2),
        "cm",
        "pelvic drop in single-leg stance above",
        "secondary summary",
        uncertain=True,
    ),
}


def in_unit(number: str, unit: str) -> str:
    """A number as written (``number``) with its unit: "12°", "4 cm", "1 point", "2 points"."""
    if unit == "°":
        return f"{number}°"
    if unit == "points" and Decimal(number) == 1:
        return f"{number} point"
    return f"{number} {unit}"


def _with_unit(value: Decimal, unit: str) -> str:
    return in_unit(format(value.normalize(), "f"), unit)


@dataclass(frozen=True)
class ThresholdUsed:
    """A threshold as a finding or a scoring text used it, for people: its value, what it
    means, its source, and whether it is an uncertain default or the clinic's own setting."""

    name: str
    value: Decimal
    definition: Threshold

    @classmethod
    def of(cls, name: str, value: Decimal | None) -> "ThresholdUsed | None":
        definition = DEFAULT_THRESHOLDS.get(name)
        if definition is None or value is None:
            return None
        return cls(name, Decimal(str(value)), definition)

    @property
    def text(self) -> str:
        return _with_unit(self.value, self.definition.unit)

    @property
    def default_text(self) -> str:
        return _with_unit(self.definition.value, self.definition.unit)

    @property
    def is_default(self) -> bool:
        return self.value == self.definition.value

    @property
    def in_sentence(self) -> str:
        """ "9 cm (uncertain default)", "10 cm (clinic setting; uncertain default 9 cm)"."""
        if self.is_default:
            return f"{self.text} (uncertain default)" if self.definition.uncertain else self.text
        default = "uncertain default" if self.definition.uncertain else "default"
        return f"{self.text} (clinic setting; {default} {self.default_text})"


def scoring_text(protocol: Protocol, thresholds: Mapping[str, Decimal]) -> str:
    """How to score a test, with the thresholds in use written in (``{name}`` in the
    protocol's text), each marked if it is an uncertain default or the clinic's setting."""
    return protocol.scoring.format_map(
        {
            name: ThresholdUsed(name, value, DEFAULT_THRESHOLDS[name]).in_sentence
            for name, value in thresholds.items()
        }
    )


def thresholds_with(overrides: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """The default thresholds with ``overrides`` applied; unknown names are an error."""
    values = {name: threshold.value for name, threshold in DEFAULT_THRESHOLDS.items()}
    for name, value in (overrides or {}).items():
        if name not in values:
            raise ImproperlyConfigured(
                f"ASSESSMENT_THRESHOLDS: unknown threshold {name!r}; "
                f"known: {', '.join(sorted(values))}"
            )
        if not is_number(value):
            raise ImproperlyConfigured(f"ASSESSMENT_THRESHOLDS: {name} must be a number")
        number = Decimal(str(value))
        # Stored with each finding as DECIMAL(6, 2).
        if not (0 <= number <= Decimal("9999.99") and number == round(number, 2)):
            raise ImproperlyConfigured(
                f"ASSESSMENT_THRESHOLDS: {name} must be from 0 to 9999.99, two decimals at most"
            )
        values[name] = number
    return values


@dataclass(frozen=True)
class Source:
    """A result a finding was derived from."""

    protocol: str
    side: str
    trial: int
    field: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "side": self.side,
            "trial": self.trial,
            "field": self.field,
            "value": self.value,
        }

    @property
    def label(self) -> str:
        protocol = PROTOCOLS.get(self.protocol)
        definition = protocol.field_or_none(self.field) if protocol else None
        if protocol is None or definition is None:
            # A stored finding from a test or field since taken out of the registry.
            return f"{self.protocol}.{self.side}.{self.trial}.{self.field}: {self.value}"
        trial = f", trial {self.trial}" if definition.trials > 1 else ""
        return (
            f"{protocol.name}, {SIDE_LABELS[self.side].lower()}{trial}: "
            f"{definition.label.lower()} {definition.display(self.value)}"
        )


@dataclass(frozen=True)
class Finding:
    key: str
    protocol: str
    # The side the finding is about ("left"/"right"), or "" when it is about both.
    side: str
    title: str
    detail: str
    targets: tuple[Target, ...]
    sources: tuple[Source, ...]
    threshold: str = ""
    threshold_value: Decimal | None = None

    @property
    def identity(self) -> str:
        """Stable across recomputation: plan items point at findings by it."""
        return f"{self.key}:{self.side or 'both'}"

    @property
    def threshold_used(self) -> ThresholdUsed | None:
        return ThresholdUsed.of(self.threshold, self.threshold_value)


class Results:
    """The recorded values of one assessment, addressed by protocol, side, trial and field."""

    def __init__(self, values: Mapping[ValueAddress, Any]) -> None:
        self._values = {address: value for address, value in values.items() if value is not None}

    def get(self, protocol: str, side: str, field_key: str, trial: int = 1) -> Source | None:
        address = ValueAddress(protocol, side, trial, field_key)
        if address not in self._values:
            return None
        return Source(protocol, side, trial, field_key, self._values[address])

    def trials(self, protocol: str, side: str, field_key: str) -> list[Source]:
        found = (
            self.get(protocol, side, field_key, trial)
            for trial in range(1, PROTOCOLS[protocol].trials + 1)
        )
        return [source for source in found if source is not None]

    def number(self, protocol: str, side: str, field_key: str) -> Source | None:
        source = self.get(protocol, side, field_key)
        return source if source is not None and is_number(source.value) else None

    def mean(self, protocol: str, side: str, field_key: str) -> "Mean | None":
        """The mean of a side's recorded trials of a measurement (PROTOCOLS.md averages
        repeated trials), or None if none is recorded."""
        numbers = [s for s in self.trials(protocol, side, field_key) if is_number(s.value)]
        if not numbers:
            return None
        exact = sum((Decimal(str(s.value)) for s in numbers), Decimal(0)) / len(numbers)
        return Mean(exact, tuple(numbers))


@dataclass(frozen=True)
class Mean:
    # Exact (Decimal arithmetic): rules compare it unrounded.
    value: Decimal
    sources: tuple[Source, ...]

    def text(self, unit: str) -> str:
        """ "16 cm", or "16.2 cm (mean of 3 trials)"."""
        trials = f" (mean of {len(self.sources)} trials)" if len(self.sources) > 1 else ""
        return f"{in_unit(_shown(self.value), unit)}{trials}"

    @property
    def trials_text(self) -> str:
        return "1 trial" if len(self.sources) == 1 else f"{len(self.sources)} trials"


@dataclass(frozen=True)
class Context:
    # "female", "male" or "" (not recorded): chooses the FPPA reference.
    sex: str = ""
    thresholds: Mapping[str, Decimal] = field(default_factory=lambda: thresholds_with(None))

    def threshold(self, name: str) -> Decimal:
        return self.thresholds[name]


Rule = Callable[[Results, Context], list[Finding]]


def _num(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _shown(value: Decimal, limit: Decimal | None = None) -> str:
    """A computed value (a mean, a difference) for people: to 0.1, or to 0.01 where 0.1 would
    make it read as the threshold it was compared with (a mean of 18.63° shown as 18.6°
    beside a reference of 18.6°). Rules compare the unrounded value."""
    rounded = value.quantize(Decimal("0.1"), ROUND_HALF_UP)
    if limit is not None and rounded == limit and value != limit:
        rounded = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return _num(rounded)


def _side(side: str) -> str:
    return SIDE_LABELS[side].lower()


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _difference(
    results: Results,
    context: Context,
    *,
    protocol: str,
    field_key: str,
    threshold: str,
    worse: Callable[[Decimal, Decimal], bool],
    inclusive: bool,
    key: str,
    title: str,
    unit: str,
    targets: tuple[Target, ...],
) -> list[Finding]:
    """A left/right difference of the sides' means at or above (``inclusive``) or above a
    threshold; the finding is about the worse side, which ``worse(this, other)`` picks."""
    left = results.mean(protocol, "left", field_key)
    right = results.mean(protocol, "right", field_key)
    if left is None or right is None:
        return []
    difference = abs(left.value - right.value)
    limit = context.threshold(threshold)
    if not (difference >= limit if inclusive else difference > limit):
        return []
    worse_side = "left" if worse(left.value, right.value) else "right"
    by_side = {"left": left, "right": right}
    return [
        Finding(
            key=key,
            protocol=protocol,
            side=worse_side,
            title=title.format(side=_side(worse_side)),
            detail=(
                f"{SIDE_LABELS[worse_side]} {by_side[worse_side].text(unit)}, "
                f"{_side(_other(worse_side))} {by_side[_other(worse_side)].text(unit)}: "
                f"a difference of {in_unit(_shown(difference, limit), unit)} "
                f"({'≥' if inclusive else '>'} {in_unit(_num(limit), unit)})."
            ),
            targets=targets,
            sources=(*left.sources, *right.sources),
            threshold=threshold,
            threshold_value=limit,
        )
    ]


# --- Rules, one per test ----------------------------------------------------------------------


def aslr_rules(results: Results, context: Context) -> list[Finding]:
    findings = []
    scores = [s for side in SIDES if (s := results.number("aslr", side, "aslr_score"))]
    total = sum(int(s.value) for s in scores)
    limit = context.threshold("aslr_positive_sum")
    if scores and total >= limit:
        hard = [s.side for s in scores if s.value > 0]
        findings.append(
            Finding(
                key="aslr_positive",
                protocol="aslr",
                side=hard[0] if len(hard) == 1 else "",
                title="Active straight leg raise positive",
                detail=(
                    f"Difficulty score sum {total} of {5 * len(scores)} "
                    f"(positive at {_num(limit)} or more)."
                ),
                targets=(Target.HIP_FLEXORS,),
                sources=tuple(scores),
                threshold="aslr_positive_sum",
                threshold_value=limit,
            )
        )
    findings += _difference(
        results,
        context,
        protocol="aslr",
        field_key="aslr_score",
        threshold="aslr_side_difference",
        worse=lambda this, other: this > other,
        inclusive=True,
        key="aslr_asymmetry",
        title="Leg raise harder on the {side}",
        unit="points",
        targets=(Target.HIP_FLEXORS,),
    )
    findings += _difference(
        results,
        context,
        protocol="aslr",
        field_key="slr_angle_deg",
        threshold="slr_angle_difference_deg",
        worse=lambda this, other: this < other,
        inclusive=False,
        key="slr_angle_asymmetry",
        title="Straight leg raise lower on the {side}",
        unit="°",
        # Hamstring length: no home-program target in PROTOCOLS.md; the clinician decides.
        targets=(),
    )
    return findings


def seated_cross_legged_rules(results: Results, context: Context) -> list[Finding]:
    higher = [s for side in SIDES if (s := results.get("seated_cross_legged", side, "sits_higher"))]
    tight = [
        s for side in SIDES if (s := results.get("seated_cross_legged", side, "tightness_felt"))
    ]
    findings = []
    higher_sides = [s for s in higher if s.value is True]
    if len(higher_sides) == 1:
        side = higher_sides[0].side
        findings.append(
            Finding(
                key="seated_asymmetry",
                protocol="seated_cross_legged",
                side=side,
                title=f"Seated cross-legged: {_side(side)} knee sits higher",
                detail="A screen: confirm with the figure-4 (FABER) height.",
                targets=(Target.HIP_EXTERNAL_ROTATORS,),
                sources=tuple(higher),
            )
        )
    for source in tight:
        if source.value is True:
            findings.append(
                Finding(
                    key="seated_tightness",
                    protocol="seated_cross_legged",
                    side=source.side,
                    title=f"Tightness in the {_side(source.side)} hip sitting cross-legged",
                    detail="Felt by the client in the seated cross-legged position.",
                    targets=(Target.HIP_EXTERNAL_ROTATORS,),
                    sources=(source,),
                )
            )
    return findings


def faber_rules(results: Results, context: Context) -> list[Finding]:
    findings = _difference(
        results,
        context,
        protocol="faber",
        field_key="faber_height_cm",
        threshold="faber_difference_cm",
        worse=lambda this, other: this > other,
        inclusive=True,
        key="faber_asymmetry",
        title="Figure-4 (FABER): {side} hip stiffer",
        unit="cm",
        targets=(Target.HIP_EXTERNAL_ROTATORS,),
    )
    locations = PROTOCOLS["faber"].field("pain_location")
    for side in SIDES:
        # Positive in any trial: pain reproduced, or the knee stays above the opposite leg.
        painful = [s for s in results.trials("faber", side, "pain") if is_number(s.value)]
        painful = [s for s in painful if s.value > 0]
        where = [
            location
            for pain in painful
            if (location := results.get("faber", side, "pain_location", pain.trial))
        ]
        above = [
            s for s in results.trials("faber", side, "knee_above_opposite_leg") if s.value is True
        ]
        reasons: list[str] = []
        if painful:
            worst = max(painful, key=lambda s: s.value)
            places = sorted({locations.display(s.value).lower() for s in where})
            reasons.append(f"pain {worst.value}/10" + (f" ({', '.join(places)})" if places else ""))
        if above:
            reasons.append("the knee stays above the opposite leg")
        if not reasons:
            continue
        targets = [Target.HIP_EXTERNAL_ROTATORS]
        if any(location.value == "groin" for location in where):
            targets.append(Target.ADDUCTORS_QUADS)
        findings.append(
            Finding(
                key="faber_positive",
                protocol="faber",
                side=side,
                title=f"Figure-4 (FABER) positive on the {_side(side)}",
                detail=f"Positive: {' and '.join(reasons)}.",
                targets=tuple(targets),
                sources=(*painful, *where, *above),
            )
        )
    return findings


VALGUS_POSITIONS = {"over_big_toe", "medial_to_big_toe"}


def lunge_rules(results: Results, context: Context) -> list[Finding]:
    findings = []
    means: dict[str, Mean] = {}
    for side in SIDES:
        valgus = [
            s for s in results.trials("lunge", side, "knee_position") if s.value in VALGUS_POSITIONS
        ]
        if valgus:
            labels = PROTOCOLS["lunge"].field("knee_position")
            findings.append(
                Finding(
                    key="lunge_valgus",
                    protocol="lunge",
                    side=side,
                    title=f"{SIDE_LABELS[side]} knee tracks inward in the lunge",
                    detail="; ".join(
                        f"trial {s.trial}: {labels.display(s.value).lower()}" for s in valgus
                    )
                    + ".",
                    targets=(Target.GLUTE_MED,),
                    sources=tuple(valgus),
                )
            )
        hip_drop = [s for s in results.trials("lunge", side, "hip_drop") if s.value is True]
        if hip_drop:
            findings.append(
                Finding(
                    key="lunge_hip_drop",
                    protocol="lunge",
                    side=side,
                    title=f"Hip drop in the {_side(side)} lunge",
                    detail=f"Seen in trial {', '.join(str(s.trial) for s in hip_drop)}.",
                    targets=(Target.GLUTE_MED,),
                    sources=tuple(hip_drop),
                )
            )
        mean = results.mean("lunge", side, "fppa_deg")
        if mean is not None:
            means[side] = mean

    female = context.sex == "female"
    limit_name = "fppa_female_max_deg" if female else "fppa_male_max_deg"
    limit = context.threshold(limit_name)
    reference = (
        "women's" if female else "men's" if context.sex == "male" else "men's (sex not recorded)"
    )
    for side, mean in means.items():
        if mean.value > limit:
            findings.append(
                Finding(
                    key="fppa_high",
                    protocol="lunge",
                    side=side,
                    title=f"{SIDE_LABELS[side]} knee valgus angle above the reference",
                    detail=(
                        f"Mean FPPA {_shown(mean.value, limit)}° over {mean.trials_text}, "
                        f"above the {reference} reference of {_num(limit)}°."
                    ),
                    targets=(Target.GLUTE_MED,),
                    sources=mean.sources,
                    threshold=limit_name,
                    threshold_value=limit,
                )
            )
    if len(means) == 2:
        difference = abs(means["left"].value - means["right"].value)
        limit = context.threshold("fppa_difference_deg")
        if difference >= limit:
            worse = "left" if means["left"].value > means["right"].value else "right"
            findings.append(
                Finding(
                    key="fppa_asymmetry",
                    protocol="lunge",
                    side=worse,
                    title=f"More valgus on the {_side(worse)} (FPPA)",
                    detail=(
                        f"Mean FPPA {_side(worse)} {_shown(means[worse].value)}°, "
                        f"{_side(_other(worse))} {_shown(means[_other(worse)].value)}°: a "
                        f"difference of {_shown(difference, limit)}° (≥ {_num(limit)}°)."
                    ),
                    targets=(Target.GLUTE_MED,),
                    sources=(*means["left"].sources, *means["right"].sources),
                    threshold="fppa_difference_deg",
                    threshold_value=limit,
                )
            )
    return findings


def knee_to_wall_rules(results: Results, context: Context) -> list[Finding]:
    findings = _difference(
        results,
        context,
        protocol="knee_to_wall",
        field_key="ktw_cm",
        threshold="ktw_difference_cm",
        worse=lambda this, other: this < other,
        inclusive=True,
        key="ktw_asymmetry",
        title="Knee-to-wall: {side} ankle stiffer",
        unit="cm",
        targets=(Target.ANKLE_DORSIFLEXION,),
    )
    limit = context.threshold("ktw_restricted_below_cm")
    for side in SIDES:
        distance = results.mean("knee_to_wall", side, "ktw_cm")
        if distance is None or distance.value >= limit:
            continue
        drifted = [
            s for s in results.trials("knee_to_wall", side, "knee_drifted_in") if s.value is True
        ]
        caveat = (
            " The knee drifted inward, which inflates the distance: the restriction may be larger."
            if drifted
            else ""
        )
        findings.append(
            Finding(
                key="ktw_restricted",
                protocol="knee_to_wall",
                side=side,
                title=f"{SIDE_LABELS[side]} ankle dorsiflexion restricted",
                detail=(f"Knee-to-wall {distance.text('cm')} (< {_num(limit)} cm).{caveat}"),
                targets=(Target.ANKLE_DORSIFLEXION,),
                sources=(*distance.sources, *drifted),
                threshold="ktw_restricted_below_cm",
                threshold_value=limit,
            )
        )
    return findings


def modified_thomas_rules(results: Results, context: Context) -> list[Finding]:
    findings = []
    limit = context.threshold("thomas_knee_angle_below_deg")
    for side in SIDES:
        thigh = results.get("modified_thomas", side, "thigh_above_horizontal")
        if thigh and thigh.value is True:
            findings.append(
                Finding(
                    key="thomas_one_joint",
                    protocol="modified_thomas",
                    side=side,
                    title=f"Short one-joint hip flexors on the {_side(side)} (screen)",
                    detail="Thigh above horizontal in the modified Thomas test.",
                    targets=(Target.HIP_FLEXORS,),
                    sources=(thigh,),
                )
            )
        knee = results.number("modified_thomas", side, "knee_angle_deg")
        if knee and Decimal(str(knee.value)) < limit:
            findings.append(
                Finding(
                    key="thomas_two_joint",
                    protocol="modified_thomas",
                    side=side,
                    title=f"Short two-joint hip flexors on the {_side(side)} (screen)",
                    detail=f"Knee angle {_num(knee.value)}° (< {_num(limit)}°): rectus femoris.",
                    targets=(Target.HIP_FLEXORS, Target.ADDUCTORS_QUADS),
                    sources=(knee,),
                    threshold="thomas_knee_angle_below_deg",
                    threshold_value=limit,
                )
            )
    return findings


def single_leg_stance_rules(results: Results, context: Context) -> list[Finding]:
    """A drop of more than the threshold is positive. When the drop was measured the threshold
    decides, whatever was ticked; when it was only seen, the clinician's observation does."""
    findings = []
    limit = context.threshold("pelvic_drop_above_cm")
    for side in SIDES:
        seen = results.get("single_leg_stance", side, "pelvic_drop")
        drop = results.number("single_leg_stance", side, "pelvic_drop_cm")
        seen_yes = seen is not None and seen.value is True
        if drop is not None:
            if not Decimal(str(drop.value)) > limit:
                continue
            sources = [drop, *([seen] if seen_yes else [])]
            reason = f"a drop of {_num(drop.value)} cm (> {_num(limit)} cm)"
        elif seen_yes:
            sources = [seen]
            reason = "the pelvis drops on the lifted side (seen, not measured)"
        else:
            continue
        findings.append(
            Finding(
                key="trendelenburg",
                protocol="single_leg_stance",
                side=side,
                title=f"Pelvis not held level standing on the {_side(side)} leg",
                detail=f"Single-leg stance: {reason}.",
                targets=(Target.GLUTE_MED,),
                sources=tuple(sources),
                threshold="pelvic_drop_above_cm" if drop is not None else "",
                threshold_value=limit if drop is not None else None,
            )
        )
    return findings


RULES: dict[str, Rule] = {
    "aslr": aslr_rules,
    "seated_cross_legged": seated_cross_legged_rules,
    "faber": faber_rules,
    "lunge": lunge_rules,
    "knee_to_wall": knee_to_wall_rules,
    "modified_thomas": modified_thomas_rules,
    "single_leg_stance": single_leg_stance_rules,
}


def findings_derive(
    values: Mapping[ValueAddress, Any] | Iterable[tuple[ValueAddress, Any]],
    *,
    context: Context,
) -> list[Finding]:
    """Every finding the results support, in the order of the tests."""
    results = Results(dict(values.items() if isinstance(values, Mapping) else values))
    findings = []
    for protocol in PROTOCOLS:
        findings += RULES[protocol](results, context)
    return findings


# --- For the client ---------------------------------------------------------------------------
#
# Clinicians read a finding's title and detail: the test's name, the values, the threshold and
# its source. The client reads what it means in plain words instead, from its key and side;
# the values are in the results on the same page. "{side}" is the side of the finding and
# "{other}" the other one.

PLAIN_WORDS: dict[str, tuple[str, str]] = {
    "aslr_positive": (
        "Lifting your {side} leg straight took some effort",
        "Lying on your back, lifting the straight {side} leg a little off the floor was harder "
        "than it should be. This can mean the muscles around your hips and pelvis are not "
        "sharing the work well.",
    ),
    "aslr_asymmetry": (
        "Lifting your {side} leg was harder than your {other}",
        "Lying on your back, lifting the straight {side} leg was clearly harder than lifting "
        "the {other} one.",
    ),
    "slr_angle_asymmetry": (
        "Your {side} leg did not rise as high",
        "With the knee straight, your {side} leg rose clearly less high than your {other} leg. "
        "The back of that thigh may be tighter.",
    ),
    "seated_asymmetry": (
        "Sitting cross-legged, your {side} knee sat higher",
        "This can mean your {side} hip is stiffer when the leg turns outward. The figure-4 "
        "test looks at this more closely.",
    ),
    "seated_tightness": (
        "Your {side} hip felt tight sitting cross-legged",
        "You felt tightness in your {side} hip when you sat cross-legged.",
    ),
    "faber_asymmetry": (
        "Your {side} hip is stiffer in the figure-4 position",
        "Lying in the figure-4 position, your {side} knee stayed clearly higher than your "
        "{other}: your {side} hip does not turn outward as far.",
    ),
    "faber_positive": (
        "The figure-4 position was a problem for your {side} hip",
        "In the figure-4 position your {side} hip hurt, or the knee did not come down as far "
        "as the other leg.",
    ),
    "lunge_valgus": (
        "Your {side} knee moved inward in the lunge",
        "When you lunged, your {side} knee went inward, toward or past your big toe, instead "
        "of staying over the middle of your foot.",
    ),
    "lunge_hip_drop": (
        "Your hip dropped in the lunge on your {side} leg",
        "During the lunge on your {side} leg your hips did not stay level. The muscles at the "
        "side of the hip help hold them level.",
    ),
    "fppa_high": (
        "Your {side} knee turned inward more than usual",
        "Seen from the front in the lunge, your {side} knee angled inward more than it does "
        "for most people without knee pain.",
    ),
    "fppa_asymmetry": (
        "Your {side} knee turned inward more than your {other}",
        "Seen from the front in the lunge, your {side} knee angled inward clearly more than "
        "your {other} knee.",
    ),
    "ktw_asymmetry": (
        "Your {side} ankle is stiffer than your {other}",
        "In the knee-to-wall test your {side} knee reached the wall only with the foot closer "
        "to it: your {side} ankle bends less far forward.",
    ),
    "ktw_restricted": (
        "Your {side} ankle does not bend as far as it should",
        "In the knee-to-wall test your {side} ankle bent less far forward than usual. A stiff "
        "ankle can make the knee work harder.",
    ),
    "thomas_one_joint": (
        "The front of your {side} hip is tight",
        "Lying at the end of the bed, your hanging {side} thigh stayed above level: the "
        "muscles at the front of your {side} hip may be short.",
    ),
    "thomas_two_joint": (
        "The front of your {side} thigh is tight",
        "Lying at the end of the bed, your hanging {side} knee did not bend as far as usual: "
        "the muscle at the front of your {side} thigh may be short.",
    ),
    "trendelenburg": (
        "Your hips did not stay level standing on your {side} leg",
        "Standing on your {side} leg, your hips dropped on the other side. The muscles at the "
        "side of your {side} hip help hold them level.",
    ),
}
# A finding about both sides (the straight leg raise, when both legs were hard to lift).
PLAIN_WORDS_BOTH_SIDES: dict[str, tuple[str, str]] = {
    "aslr_positive": (
        "Lifting your legs straight took some effort",
        "Lying on your back, lifting a straight leg a little off the floor was harder than it "
        "should be. This can mean the muscles around your hips and pelvis are not sharing the "
        "work well.",
    ),
}


@dataclass(frozen=True)
class PlainFinding:
    """A finding as the client reads it."""

    identity: str
    title: str
    detail: str


def finding_in_plain_words(finding: Any) -> PlainFinding:
    """A finding (derived or stored) for the client. A finding whose key has no plain words
    (one from a rule since removed) keeps its title, without the clinician's detail."""
    side = finding.side
    words = (PLAIN_WORDS if side else PLAIN_WORDS_BOTH_SIDES).get(finding.key)
    if words is None:
        return PlainFinding(identity=finding.identity, title=finding.title, detail="")
    names = {"side": side, "other": _other(side)} if side else {}
    title, detail = (text.format_map(names) for text in words)
    return PlainFinding(identity=finding.identity, title=title, detail=detail)
