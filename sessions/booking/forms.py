import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.utils import timezone

from clinic.forms import DateInput, TimeZoneField, clean_date_of_birth, clean_phone
from clinic.models import (
    AggravatingActivity,
    DominantLeg,
    Intake,
    KneePainSide,
    PainDuration,
)
from sessions.booking.selectors import service_rules
from sessions.models import Service, Weekday


def parse_slot_start(value: str) -> dt.datetime | None:
    """An aware start time from a URL or form, or None for anything malformed.

    Python's datetime ends at the years 1 and 9999: an offset can push a valid-looking time
    past either end (OverflowError), which counts as malformed here.
    """
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(dt.UTC)
    except (ValueError, AttributeError, OverflowError):
        return None


def slot_start_clean(
    value: str, *, service: Service, now: dt.datetime, malformed: str
) -> dt.datetime:
    """A start time worth looking up for ``service``: well formed, not past, inside the horizon.

    Slot computation works a day either side of the time, so refusing far-off dates here also
    keeps it clear of the ends of the calendar.
    """
    start = parse_slot_start(value)
    if start is None:
        raise forms.ValidationError(malformed, code="invalid")
    if start < now:
        raise forms.ValidationError(
            "That time has already passed. Please pick a time from the list.", code="past"
        )
    if start > service_rules(service).latest_start(now):
        raise forms.ValidationError(
            "This service can be booked up to %(days)s days ahead. "
            "Please pick a time from the list.",
            params={"days": service.booking_horizon_days},
            code="beyond_horizon",
        )
    return start


def parse_day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None


class SlotStartForm(forms.Form):
    """A form whose ``start`` is a time chosen for ``service`` (see slot_start_clean); a start
    that is missing or not a time gets ``MALFORMED_START``, which each form words for its page.
    """

    MALFORMED_START: str

    def __init__(self, *args: Any, service: Service, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def clean_start(self) -> dt.datetime:
        return slot_start_clean(
            self.cleaned_data["start"],
            service=self.service,
            now=timezone.now(),
            malformed=self.MALFORMED_START,
        )


class BookingDetailsForm(SlotStartForm):
    """Details, intake and consent: the last step of booking."""

    MALFORMED_START = "Pick a time from the list."

    start = forms.CharField(
        widget=forms.HiddenInput, max_length=40, error_messages={"required": MALFORMED_START}
    )

    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="Your confirmation, join link and sign-in links go here.",
    )
    phone = forms.CharField(
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        help_text="So that your clinician can call if the video fails.",
    )
    date_of_birth = forms.DateField(widget=DateInput(attrs={"autocomplete": "bday"}))
    time_zone = TimeZoneField(help_text="Reminders and times are shown in this zone.")
    # The intake's questions show every answer and none is chosen for the client: an answer
    # left preselected would be recorded as theirs when they skip it.
    dominant_leg = forms.ChoiceField(
        label="Which leg do you kick a ball with?",
        choices=DominantLeg.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose which leg you kick a ball with."},
    )
    emergency_contact_name = forms.CharField(label="Emergency contact name", max_length=150)
    emergency_contact_phone = forms.CharField(label="Emergency contact phone", max_length=32)

    knee_pain_side = forms.ChoiceField(
        label="Which knee hurts?",
        choices=KneePainSide.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose which knee hurts."},
    )
    pain_duration = forms.ChoiceField(
        label="How long has it hurt?",
        choices=PainDuration.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how long it has hurt."},
    )
    pain_now = forms.IntegerField(
        label="How much does it hurt today? (0 = no pain, 10 = worst imaginable)",
        min_value=0,
        max_value=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    aggravating_activities = forms.MultipleChoiceField(
        label="What makes it worse?",
        choices=AggravatingActivity.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    aggravating_other = forms.CharField(
        label="Anything else that makes it worse?", max_length=500, required=False
    )
    previous_injuries = forms.CharField(
        label="Previous injuries or surgery on your legs or back",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    knee_locking = forms.BooleanField(label=Intake.RED_FLAG_FIELDS["knee_locking"], required=False)
    knee_giving_way = forms.BooleanField(
        label=Intake.RED_FLAG_FIELDS["knee_giving_way"], required=False
    )
    hot_swollen_joint = forms.BooleanField(
        label=Intake.RED_FLAG_FIELDS["hot_swollen_joint"], required=False
    )
    fever = forms.BooleanField(label=Intake.RED_FLAG_FIELDS["fever"], required=False)
    night_pain = forms.BooleanField(label=Intake.RED_FLAG_FIELDS["night_pain"], required=False)

    consent_telehealth = forms.BooleanField(
        label="I have read and accept the telehealth consent above.",
        error_messages={
            "required": "Please accept the telehealth consent to book a video session."
        },
    )
    consent_images = forms.BooleanField(
        label="I agree that my clinician may keep still images of my movement tests in my record "
        "(optional).",
        required=False,
    )

    RED_FLAG_FIELDS = tuple(Intake.RED_FLAG_FIELDS)
    DETAIL_FIELDS = (
        "phone",
        "date_of_birth",
        "dominant_leg",
        "emergency_contact_name",
        "emergency_contact_phone",
    )
    INTAKE_FIELDS = (
        "knee_pain_side",
        "pain_duration",
        "pain_now",
        "aggravating_activities",
        "aggravating_other",
        "previous_injuries",
        *RED_FLAG_FIELDS,
    )

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])

    def clean_emergency_contact_phone(self) -> str:
        return clean_phone(self.cleaned_data["emergency_contact_phone"])

    def clean_date_of_birth(self) -> dt.date | None:
        return clean_date_of_birth(self.cleaned_data["date_of_birth"])

    def red_flag_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.RED_FLAG_FIELDS]

    def details(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in self.DETAIL_FIELDS}

    def intake(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in self.INTAKE_FIELDS}


class RescheduleForm(SlotStartForm):
    MALFORMED_START = "Pick one of the times below."

    start = forms.CharField(max_length=40, error_messages={"required": MALFORMED_START})

    def start_problem(self) -> str:
        """The one message to show above the times when the chosen time is refused."""
        return " ".join(self.errors.get("start", [self.MALFORMED_START]))


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class WeeklyHoursForm(forms.Form):
    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int, label="Day")
    starts_at = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    ends_at = forms.TimeField(label="To", widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and start >= end:
            raise forms.ValidationError("The end must be later than the start on the same day.")
        return cleaned


# One-off periods further away than this cannot matter to bookings (the longest booking
# horizon is a year) and are almost always typing mistakes.
PERIOD_DAYS_BACK = 365
PERIOD_DAYS_AHEAD = 3 * 365


def _day_month_year(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock date and time in a given zone, within a year back and three years ahead;
    refuses times a DST change skips."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, zone: zoneinfo.ZoneInfo, **kwargs: object) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
        super().__init__(**kwargs)
        self.zone = zone

    def to_python(self, value: object) -> dt.datetime | None:
        # Parse as a naive wall-clock time, then place it in the clinician's zone ourselves.
        parsed = None
        if isinstance(value, str) and value.strip():
            for fmt in self.input_formats:
                try:
                    parsed = dt.datetime.strptime(value.strip(), fmt)  # noqa: DTZ007
                    break
                except ValueError:
                    continue
            if parsed is None:
                raise forms.ValidationError("Enter a date and time.", code="invalid")
        if parsed is None:
            return None
        # Checked on the wall clock before any conversion: near the years 1 and 9999 the
        # conversion to UTC itself overflows.
        today = timezone.now().astimezone(self.zone).date()
        earliest = today - dt.timedelta(days=PERIOD_DAYS_BACK)
        latest = today + dt.timedelta(days=PERIOD_DAYS_AHEAD)
        if not earliest <= parsed.date() <= latest:
            raise forms.ValidationError(
                "Enter a date from %(earliest)s to %(latest)s.",
                params={"earliest": _day_month_year(earliest), "latest": _day_month_year(latest)},
                code="out_of_range",
            )
        aware = parsed.replace(tzinfo=self.zone)
        round_trip = aware.astimezone(dt.UTC).astimezone(self.zone).replace(tzinfo=None)
        if round_trip != parsed:
            raise forms.ValidationError(
                "%(time)s does not exist in %(zone)s: the clocks go forward then.",
                params={"time": parsed.strftime("%d %b %Y %H:%M"), "zone": self.zone.key},
                code="nonexistent",
            )
        return aware


class PeriodForm(forms.Form):
    """A one-off period (time off or extra hours) on the clinician's clock."""

    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: object, zone: zoneinfo.ZoneInfo, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["starts_at"] = LocalDateTimeField(zone=zone, label="From")
        self.fields["ends_at"] = LocalDateTimeField(zone=zone, label="Until")
        self.order_fields(["starts_at", "ends_at", "note"])

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and start >= end:
            raise forms.ValidationError("The end must be later than the start.")
        return cleaned
