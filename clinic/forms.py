import datetime as dt
import functools
import re
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from clinic.models import Client, DominantLeg, Sex, User
from clinic.validators import time_zone_names

PHONE_PATTERN = re.compile(r"^\+?[0-9 ()\-.]{6,31}$")


@functools.cache
def time_zone_choices() -> tuple[tuple[str, str], ...]:
    return tuple((name, name.replace("_", " ")) for name in sorted(time_zone_names()))


@functools.cache
def _time_zone_options() -> str:
    return "\n".join(
        format_html('<option value="{}">{}</option>', name, label)
        for name, label in time_zone_choices()
    )


class TimeZoneSelect(forms.Select):
    """Django's select markup, built in Python: Django's template renders each of the 600
    options through a template of its own, 60 to 90 ms a page, most of the cost of a booking
    form sent back because its time was taken (docs/booking.md)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        options = _time_zone_options()
        if value:
            chosen = format_html('<option value="{}"', str(value))
            options = options.replace(f"{chosen}>", f"{chosen} selected>", 1)
        final_attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        return mark_safe(f"<select{flatatt(final_attrs)}>\n{options}\n</select>")  # noqa: S308


class TimeZoneField(forms.ChoiceField):
    widget = TimeZoneSelect

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("label", "Time zone")
        super().__init__(choices=time_zone_choices, **kwargs)

    def valid_value(self, value: str) -> bool:
        # A set lookup, not a walk through the 600 choices.
        return value in time_zone_names()


def clean_phone(value: str) -> str:
    value = value.strip()
    if value and not PHONE_PATTERN.match(value):
        raise forms.ValidationError(
            "Enter a phone number using digits, spaces and an optional + at the start."
        )
    return value


def clean_date_of_birth(value: dt.date | None) -> dt.date | None:
    if value is None:
        return value
    today = timezone.localdate()
    if value > today:
        raise forms.ValidationError("A date of birth cannot be in the future.")
    if value < dt.date(today.year - 120, 1, 1):
        raise forms.ValidationError("Check the year of birth: that is more than 120 years ago.")
    return value


class DateInput(forms.DateInput):
    input_type = "date"


class SignInLinkRequestForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The sign-in page shows both forms: their fields need ids of their own for labels.
        kwargs.setdefault("auto_id", "link_%s")
        super().__init__(*args, **kwargs)


class StaffSignInForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )
    password = forms.CharField(
        max_length=256, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "staff_%s")
        super().__init__(*args, **kwargs)


class ClientProfileForm(forms.Form):
    """The parts of a client's record the client keeps up to date themselves."""

    full_name = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    phone = forms.CharField(
        max_length=32, required=False, widget=forms.TextInput(attrs={"autocomplete": "tel"})
    )
    date_of_birth = forms.DateField(required=False, widget=DateInput())
    time_zone = TimeZoneField()
    dominant_leg = forms.ChoiceField(choices=DominantLeg.choices, label="Dominant leg")
    sex = forms.ChoiceField(
        choices=Sex.choices,
        required=False,
        label="Sex (optional)",
        help_text="Only used to compare your movement tests with reference values.",
    )
    emergency_contact_name = forms.CharField(max_length=150, required=False)
    emergency_contact_phone = forms.CharField(max_length=32, required=False)

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])

    def clean_emergency_contact_phone(self) -> str:
        return clean_phone(self.cleaned_data["emergency_contact_phone"])

    def clean_date_of_birth(self) -> dt.date | None:
        return clean_date_of_birth(self.cleaned_data["date_of_birth"])

    @classmethod
    def initial_for(cls, client: Client) -> dict[str, object]:
        user: User = client.user
        return {
            "full_name": user.full_name,
            "phone": client.phone,
            "date_of_birth": client.date_of_birth,
            "time_zone": user.time_zone,
            "dominant_leg": client.dominant_leg,
            "sex": client.sex,
            "emergency_contact_name": client.emergency_contact_name,
            "emergency_contact_phone": client.emergency_contact_phone,
        }


class ClinicianNoteForm(forms.Form):
    body = forms.CharField(
        label="Private note",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Only clinicians see these notes.",
    )
