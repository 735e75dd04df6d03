"""Admin: the exercise library is edited here; assessments, plans and reminders are read (and
reading them is audited, as they are health records)."""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from assessments.findings import Target
from assessments.models import (
    Addendum,
    Assessment,
    Exercise,
    Finding,
    Plan,
    PlanItem,
    PlanPhase,
    ProgramEmail,
    Reminder,
    ReminderPreference,
    ResultValue,
)
from assessments.programs.reminders import client_reminders_replace
from clinic.admin import AuditedAdmin, OutgoingEmailInline, ReadOnlyInline
from clinic.audit import AuditSubject


class ExerciseAdminForm(forms.ModelForm):
    """Targets as checkboxes of the body areas findings name (an unknown one would leave the
    exercise unused by the planner), cues as plain lines instead of JSON."""

    targets = forms.MultipleChoiceField(
        choices=[(str(target), target.label) for target in Target],
        widget=forms.CheckboxSelectMultiple,
        help_text="The body areas it works on: the planner picks it for findings about them.",
    )
    cues = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One cue per line, each up to 120 characters; blank lines are ignored.",
    )

    class Meta:
        model = Exercise
        fields = [
            "slug",
            "name",
            "phase",
            "targets",
            "maintenance",
            "instructions",
            "cues",
            "sets",
            "reps",
            "hold_seconds",
            "per_side",
            "frequency",
            "cautions",
            "position",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["cues"] = "\n".join(self.instance.cues or [])

    def clean_cues(self) -> list[str]:
        cues = [line.strip() for line in self.cleaned_data["cues"].splitlines() if line.strip()]
        too_long = [cue for cue in cues if len(cue) > 120]
        if too_long:
            raise forms.ValidationError(
                "Keep each cue to 120 characters: %(cue)s…", params={"cue": too_long[0][:40]}
            )
        return cues


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    form = ExerciseAdminForm
    list_display = [
        "name",
        "phase",
        "targets",
        "sets",
        "reps",
        "hold_seconds",
        "frequency",
        "maintenance",
        "is_active",
        "position",
    ]
    list_filter = ["phase", "frequency", "maintenance", "is_active"]
    list_editable = ["position", "is_active"]
    search_fields = ["name", "slug", "instructions"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["uuid"]


class ResultValueInline(ReadOnlyInline):
    model = ResultValue
    fields = [
        "protocol",
        "side",
        "trial",
        "field",
        "value",
        "source",
        "version",
        "updated_by",
        "updated_at",
    ]


class FindingInline(ReadOnlyInline):
    model = Finding
    fields = ["title", "detail", "targets", "threshold", "threshold_value"]


class AddendumInline(ReadOnlyInline):
    model = Addendum
    fields = ["author", "created_at", "body", "field", "previous_value", "corrected_value"]


class ReadOnlyAdmin(AuditedAdmin):
    """Health records change through the clinic's pages, where every change is audited; here
    they are only read, and reading them is audited too."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "clinician", "setting", "status", "created_at", "completed_at"]
    list_filter = ["status", "setting"]
    list_select_related = ["client__user", "clinician__user"]
    search_fields = ["client__user__full_name", "client__user__email"]
    inlines = [ResultValueInline, FindingInline, AddendumInline]

    def audit_subjects(self, objects: Sequence[Assessment]) -> list[AuditSubject]:
        return [AuditSubject("assessment", a.uuid, a.client) for a in objects]


class PlanItemInline(ReadOnlyInline):
    model = PlanItem
    fields = [
        "exercise",
        "sets",
        "reps",
        "hold_seconds",
        "answers",
        "position",
        "added_on",
        "removed_on",
    ]
    readonly_fields = ["answers"]

    @admin.display(description="Findings it answers")
    def answers(self, item: PlanItem) -> str:
        return item.answers_text


def _plan_subjects(plans: Sequence[Plan]) -> list[AuditSubject]:
    return [AuditSubject("plan", plan.uuid, plan.client) for plan in plans]


@admin.register(PlanPhase)
class PlanPhaseAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "plan", "first_week", "weeks", "frequency"]
    list_select_related = ["plan__client__user"]
    inlines = [PlanItemInline]

    def audit_subjects(self, objects: Sequence[PlanPhase]) -> list[AuditSubject]:
        # A phase shows its plan's exercises: seeing it is seeing the plan.
        return _plan_subjects([phase.plan for phase in objects])


class ProgramEmailInline(OutgoingEmailInline):
    model = ProgramEmail
    fields = ["revision", *OutgoingEmailInline.fields]
    readonly_fields = fields


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    inlines = [ProgramEmailInline]
    list_display = ["__str__", "clinician", "status", "generated_at", "approved_at", "starts_on"]
    list_filter = ["status", "maintenance"]
    list_select_related = ["client__user", "clinician__user"]
    search_fields = ["client__user__full_name", "client__user__email"]

    def audit_subjects(self, objects: Sequence[Plan]) -> list[AuditSubject]:
        return _plan_subjects(objects)


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["kind", "client", "due_at", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    list_select_related = ["client__user"]
    search_fields = ["client__user__full_name", "client__user__email"]
    date_hierarchy = "due_at"

    def audit_subjects(self, objects: Sequence[Reminder]) -> list[AuditSubject]:
        return [AuditSubject("reminder", r.uuid, r.client) for r in objects]


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(AuditedAdmin):
    list_display = ["client", "local_time", "stopped_at"]
    list_select_related = ["client__user"]
    search_fields = ["client__user__full_name", "client__user__email"]

    def audit_subjects(self, objects: Sequence[ReminderPreference]) -> list[AuditSubject]:
        # Part of the client's record, which has no identifier of its own.
        return [AuditSubject("client", p.client.uuid, p.client) for p in objects]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # A new time, or reminders stopped or restarted here, applies to what is still to come.
        if {"local_time", "stopped_at"} & set(form.changed_data):
            client_reminders_replace(client=obj.client, now=timezone.now())
