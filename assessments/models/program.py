"""Home programs: the exercise library, follow-up plans by phase, and what the client logs."""

import datetime as dt
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from assessments.findings import Target
from assessments.models.assessment import Assessment
from clinic.models import Client, Clinician, OutgoingEmail, User


class PhaseKind(models.TextChoices):
    RESTORE = "restore", "Restore"
    ACTIVATE = "activate", "Activate"
    STRENGTHEN = "strengthen", "Strengthen"
    MAINTAIN = "maintain", "Maintain"


class Frequency(models.TextChoices):
    DAILY = "daily", "Every day"
    THREE_PER_WEEK = "3_per_week", "3 days a week"

    @property
    def days_per_week(self) -> int:
        return 7 if self == Frequency.DAILY else 3


def validate_targets(value: object) -> None:
    """The planner picks an exercise only for the targets findings name: an unknown one would
    leave the exercise unused without anyone noticing."""
    known = [str(target) for target in Target]
    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one target.", code="targets")
    unknown = [str(item) for item in value if item not in known]
    if unknown:
        raise ValidationError(
            "Unknown target: %(unknown)s. Choose from %(known)s.",
            code="unknown_target",
            params={"unknown": ", ".join(unknown), "known": ", ".join(known)},
        )
    if len(set(value)) != len(value):
        raise ValidationError("A target is listed twice.", code="targets")


def validate_cues(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(cue, str) and cue.strip() and len(cue) <= 120 for cue in value
    ):
        raise ValidationError(
            "Cues are short texts of up to 120 characters, one per line.", code="cues"
        )


class Exercise(models.Model):
    """One exercise of the library (loaded by a data migration, edited in the admin)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    phase = models.CharField(
        max_length=16, choices=PhaseKind, help_text="The phase of a program it belongs to."
    )
    targets = models.JSONField(
        default=list,
        validators=[validate_targets],
        help_text="The body areas it works on: the planner picks it for findings about them.",
    )
    maintenance = models.BooleanField(
        default=False, help_text="Part of the general program proposed when nothing is found."
    )
    instructions = models.TextField()
    cues = models.JSONField(default=list, blank=True, validators=[validate_cues])
    sets = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    reps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    hold_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(5), MaxValueValidator(300)]
    )
    per_side = models.BooleanField(default=True, help_text="Done on each side.")
    frequency = models.CharField(max_length=16, choices=Frequency, default=Frequency.DAILY)
    cautions = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reps__isnull=False, hold_seconds__isnull=True)
                | Q(reps__isnull=True, hold_seconds__isnull=False),
                name="exercise_reps_or_hold",
            ),
            models.CheckConstraint(
                condition=Q(sets__gte=1, sets__lte=10), name="exercise_sets_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Waiting for approval"
    APPROVED = "approved", "Approved"
    # A draft nobody approved before a newer plan for the client was proposed.
    SUPERSEDED = "superseded", "Superseded"


class Plan(models.Model):
    """The follow-up plan proposed from an assessment; the client sees it once approved."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.OneToOneField(Assessment, on_delete=models.PROTECT, related_name="plan")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="plans")
    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="plans")
    status = models.CharField(max_length=16, choices=PlanStatus, default=PlanStatus.DRAFT)
    maintenance = models.BooleanField(
        default=False, help_text="Nothing was found: a general maintenance program."
    )
    summary = models.TextField(blank=True)
    note = models.TextField(
        blank=True, max_length=2000, help_text="From the clinician to the client, in the email."
    )
    generated_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The first day of the program on the client's own calendar.
    starts_on = models.DateField(null=True, blank=True)
    reassessment_week = models.PositiveSmallIntegerField(default=9)
    # Raised by every change after approval; the client has the revision last sent (its
    # email is a ProgramEmail).
    revision = models.PositiveIntegerField(default=1)
    sent_revision = models.PositiveIntegerField(default=0)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-generated_at"]
        indexes = [models.Index(fields=["clinician", "status"], name="plan_clinician_status")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=PlanStatus.APPROVED)
                | Q(approved_at__isnull=False, starts_on__isnull=False),
                name="plan_approved_has_start",
            ),
            models.CheckConstraint(
                condition=Q(
                    status=PlanStatus.SUPERSEDED,
                    superseded_by__isnull=False,
                    superseded_at__isnull=False,
                )
                | Q(
                    ~Q(status=PlanStatus.SUPERSEDED),
                    superseded_by__isnull=True,
                    superseded_at__isnull=True,
                ),
                name="plan_superseded_by_a_plan",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PlanStatus.values), name="plan_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Plan for {self.client} ({self.get_status_display()})"

    @property
    def is_approved(self) -> bool:
        return self.status == PlanStatus.APPROVED

    @property
    def is_superseded(self) -> bool:
        return self.status == PlanStatus.SUPERSEDED

    @property
    def reassessment_on(self) -> dt.date | None:
        if self.starts_on is None:
            return None
        return self.starts_on + dt.timedelta(weeks=self.reassessment_week - 1)


class ProgramEmail(OutgoingEmail):
    """The program email the client is owed for a revision the clinician sent (approved)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="emails")
    revision = models.PositiveIntegerField()

    class Meta(OutgoingEmail.Meta):
        ordering = ["created_at", "id"]
        constraints = [
            *OutgoingEmail.Meta.constraints,
            models.UniqueConstraint(
                fields=["plan", "revision"], name="program_email_one_per_revision"
            ),
        ]
        indexes = [
            # The sweep's: emails still to send, by when to try again.
            models.Index(
                fields=["retry_at"],
                name="program_email_unsent",
                condition=Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"Program email, revision {self.revision}: {self.state}"


class PlanPhase(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="phases")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=PhaseKind)
    first_week = models.PositiveSmallIntegerField()
    weeks = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    frequency = models.CharField(max_length=16, choices=Frequency)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="plan_phase_number"),
            models.CheckConstraint(
                condition=Q(first_week__gte=1, weeks__gte=1), name="plan_phase_weeks"
            ),
        ]

    def __str__(self) -> str:
        return f"Phase {self.number}: {self.get_kind_display()}"

    @property
    def last_week(self) -> int:
        return self.first_week + self.weeks - 1

    @property
    def is_empty(self) -> bool:
        """No exercise is left in it (all removed): nothing is planned in its weeks, and no
        reminder comes. Reads ``items`` as prefetched, when they are."""
        return all(item.is_removed for item in self.items.all())

    def starts_on(self, plan_start: dt.date) -> dt.date:
        return plan_start + dt.timedelta(weeks=self.first_week - 1)

    def ends_on(self, plan_start: dt.date) -> dt.date:
        return plan_start + dt.timedelta(weeks=self.last_week, days=-1)


class PlanItem(models.Model):
    """An exercise of a phase with its dose, and the findings it answers.

    Removed from an approved program, an item is kept with the day it left the program: the
    client's logs of it, and so the adherence of the weeks before, stay as they were.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    phase = models.ForeignKey(PlanPhase, on_delete=models.CASCADE, related_name="items")
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    sets = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    reps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    hold_seconds = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(5), MaxValueValidator(300)]
    )
    # Every finding it answers, the main one first: [{"identity": …, "title": …}, …], an
    # identity being stable (e.g. "ktw_restricted:left").
    findings = models.JSONField(default=list)
    note = models.CharField(max_length=300, blank=True)
    # Changes to an approved program, on the client's calendar: the first day an item added
    # (by a swap) is planned, and the first day a removed one is no longer planned.
    added_on = models.DateField(null=True, blank=True)
    removed_on = models.DateField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(removed_on__isnull=True, removed_at__isnull=True)
                | Q(removed_on__isnull=False, removed_at__isnull=False),
                name="plan_item_removed_on_and_at",
            ),
            models.CheckConstraint(
                condition=Q(reps__isnull=False, hold_seconds__isnull=True)
                | Q(reps__isnull=True, hold_seconds__isnull=False),
                name="plan_item_reps_or_hold",
            ),
            models.CheckConstraint(
                condition=Q(sets__gte=1, sets__lte=10), name="plan_item_sets_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exercise} ({self.dose})"

    @property
    def answers(self) -> list[dict[str, str]]:
        """Every finding it answers ({"identity", "title"}), the first one included."""
        return self.findings

    @property
    def answers_text(self) -> str:
        return "; ".join(answer["title"] for answer in self.answers)

    @property
    def is_removed(self) -> bool:
        return self.removed_on is not None

    def planned_on(self, day: dt.date) -> bool:
        return (self.added_on is None or self.added_on <= day) and (
            self.removed_on is None or day < self.removed_on
        )

    @property
    def dose(self) -> str:
        side = " each side" if self.exercise.per_side else ""
        if self.hold_seconds:
            return f"{self.sets} × {self.hold_seconds} s hold{side}"
        return f"{self.sets} × {self.reps} reps{side}"


class LogSource(models.TextChoices):
    PAGE = "page", "Program page"
    EMAIL = "email", "Email link"


class PracticeLog(models.Model):
    """An exercise the client ticked off on a day of their own calendar."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="practice_logs")
    # An item the client logged is never deleted (it is retired instead): RESTRICT keeps a
    # deletion from taking the client's history with it, unless the whole plan goes.
    item = models.ForeignKey(PlanItem, on_delete=models.RESTRICT, related_name="practice_logs")
    day = models.DateField()
    done_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=LogSource)

    class Meta:
        ordering = ["day", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "day"], name="practice_once_a_day"),
        ]
        indexes = [models.Index(fields=["plan", "day"], name="practice_plan_day")]

    def __str__(self) -> str:
        return f"{self.item.exercise} done on {self.day}"


class PainLog(models.Model):
    """The client's pain rating (0–10) for a day."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="pain_logs")
    day = models.DateField()
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)])
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=LogSource)

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "day"], name="pain_once_a_day"),
            models.CheckConstraint(condition=Q(score__lte=10), name="pain_score_0_to_10"),
        ]

    def __str__(self) -> str:
        return f"Pain {self.score}/10 on {self.day}"
