from django import forms

from assessments.models import Assessment
from assessments.protocols import PROTOCOLS, SIDE_LABELS


def addendum_choices(assessment: Assessment) -> list:
    """The values an addendum may correct, grouped by test."""
    groups: list = [("", "No correction: a note only")]
    for protocol in PROTOCOLS.values():
        options = []
        for trial in range(1, protocol.trials + 1):
            for side in ("left", "right"):
                for field in protocol.all_fields:
                    if trial > field.trials:
                        continue
                    trial_label = f", trial {trial}" if field.trials > 1 else ""
                    options.append(
                        (
                            f"{protocol.key}.{side}.{trial}.{field.key}",
                            f"{field.label} ({SIDE_LABELS[side].lower()}{trial_label})",
                        )
                    )
        groups.append((protocol.name, options))
    return groups


class AddendumForm(forms.Form):
    body = forms.CharField(
        label="Addendum",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "What changed and why. Addenda are kept with your name and the time. The client "
            "sees a corrected result with your name and the time, but not this text."
        ),
    )
    key = forms.ChoiceField(label="Correct a value", required=False)
    value = forms.CharField(
        label="Corrected value",
        required=False,
        max_length=1000,
        help_text="For yes/no answers write yes or no; leave empty to clear the value.",
    )

    def __init__(self, *args: object, choices: list, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = choices


class DoseForm(forms.Form):
    sets = forms.IntegerField(min_value=1, max_value=10)
    # Repetitions, or seconds of hold for a held exercise.
    amount = forms.IntegerField(min_value=1, max_value=300)


class PlanNoteForm(forms.Form):
    note = forms.CharField(
        label="Note to the client",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown at the top of the program email and page.",
    )


class PainForm(forms.Form):
    score = forms.TypedChoiceField(
        label="Pain today",
        choices=[(score, str(score)) for score in range(11)],
        coerce=int,
        widget=forms.RadioSelect,
        help_text="0 = no pain, 10 = worst pain imaginable",
    )


class ReminderTimeForm(forms.Form):
    local_time = forms.TimeField(
        label="Send my reminders at",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        input_formats=["%H:%M", "%H:%M:%S"],
        error_messages={
            "required": "Enter a time such as 07:30.",
            "invalid": "Enter a time such as 07:30.",
        },
    )
