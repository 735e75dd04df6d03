import datetime as dt

from django import forms

from clinic.forms import DateInput, TimeZoneField, clean_date_of_birth, clean_phone
from clinic.models import (
    AggravatingActivity,
    DominantLeg,
    Intake,
    KneePainSide,
    PainDuration,
)


def parse_slot_start(value: str) -> dt.datetime | None:
    """An aware start time from a URL or form, or None for anything malformed."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.UTC)


def parse_day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None


class BookingDetailsForm(forms.Form):
    """Details, intake and consent: the last step of booking."""

    start = forms.CharField(widget=forms.HiddenInput, max_length=40)

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
    dominant_leg = forms.ChoiceField(
        label="Which leg do you kick a ball with?", choices=DominantLeg.choices
    )
    emergency_contact_name = forms.CharField(label="Emergency contact name", max_length=150)
    emergency_contact_phone = forms.CharField(label="Emergency contact phone", max_length=32)

    knee_pain_side = forms.ChoiceField(
        label="Which knee hurts?", choices=KneePainSide.choices, widget=forms.RadioSelect
    )
    pain_duration = forms.ChoiceField(label="How long has it hurt?", choices=PainDuration.choices)
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

    def clean_start(self) -> dt.datetime:
        start = parse_slot_start(self.cleaned_data["start"])
        if start is None:
            raise forms.ValidationError("Pick a time from the list.")
        return start

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


class RescheduleForm(forms.Form):
    start = forms.CharField(max_length=40)

    def clean_start(self) -> dt.datetime:
        start = parse_slot_start(self.cleaned_data["start"])
        if start is None:
            raise forms.ValidationError("Pick a time from the list.")
        return start


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
