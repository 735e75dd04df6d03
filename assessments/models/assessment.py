"""Guided assessments: the values recorded per test, side and trial, snapshots, addenda and the
findings derived from them.

A test is named by its key in ``assessments.protocols.PROTOCOLS``, a plain text column checked
by the services against that registry: the schema does not list the tests, so adding one needs
no migration. Sides and trials are fixed by PROTOCOLS.md and are constraints here.
"""

import uuid

from django.db import models
from django.db.models import Q

from assessments.findings import ThresholdUsed
from assessments.protocols import MAX_TRIALS, PROTOCOLS, SIDES
from clinic.models import Client, Clinician, Consent, User
from sessions.models import Appointment

SIDE_CHOICES = [(side, side.title()) for side in SIDES]
PROTOCOL_KEY_LENGTH = 32


def protocol_name(key: str) -> str:
    """A test's name, or its key if it has since left the registry."""
    protocol = PROTOCOLS.get(key)
    return protocol.name if protocol else key


def _trial_in_range(name: str = "trial") -> Q:
    return Q(**{f"{name}__gte": 1, f"{name}__lte": MAX_TRIALS})


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "In progress"
    COMPLETED = "completed", "Completed"


class AssessmentSetting(models.TextChoices):
    VIDEO = "video", "Video session"
    IN_PERSON = "in_person", "In-person visit"


class Assessment(models.Model):
    """One run of the guided tests for a client, during a video session or an in-person visit.

    Completing it locks it: later changes are addenda.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assessments")
    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="assessments")
    appointment = models.OneToOneField(
        Appointment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assessment",
    )
    setting = models.CharField(max_length=16, choices=AssessmentSetting)
    status = models.CharField(
        max_length=16, choices=AssessmentStatus, default=AssessmentStatus.DRAFT
    )
    # The step the clinician has open; its instructions are on the client's screen.
    current_protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="assessment_client")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AssessmentStatus.values), name="assessment_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=AssessmentStatus.COMPLETED, completed_at__isnull=False)
                    | Q(status=AssessmentStatus.DRAFT, completed_at__isnull=True)
                ),
                name="assessment_completed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(setting=AssessmentSetting.VIDEO) | Q(appointment__isnull=False),
                name="assessment_video_has_appointment",
            ),
        ]

    def __str__(self) -> str:
        return f"Assessment of {self.client} on {self.created_at:%Y-%m-%d}"

    @property
    def is_locked(self) -> bool:
        return self.status == AssessmentStatus.COMPLETED


class ValueSource(models.TextChoices):
    MANUAL = "manual", "Entered by the clinician"
    VIDEO = "video", "Measured from video"


class ResultValue(models.Model):
    """One recorded value: a field of a test for one side and trial.

    ``version`` grows with every change, so that two windows editing the same value notice
    each other instead of one silently overwriting the other.
    """

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="values")
    protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH)
    side = models.CharField(max_length=8, choices=SIDE_CHOICES)
    trial = models.PositiveSmallIntegerField(default=1)
    field = models.CharField(max_length=40)
    # None when the field was cleared.
    value = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=8, choices=ValueSource, default=ValueSource.MANUAL)
    # For values measured from video: model, version, confidence, frames used and left out.
    measurement = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["protocol", "trial", "side", "field"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "protocol", "side", "trial", "field"],
                name="result_value_address",
            ),
            models.CheckConstraint(condition=_trial_in_range(), name="result_value_trial"),
            models.CheckConstraint(condition=Q(side__in=SIDES), name="result_value_side"),
        ]

    def __str__(self) -> str:
        return f"{self.protocol}.{self.side}.{self.trial}.{self.field} = {self.value!r}"

    @property
    def key(self) -> str:
        return f"{self.protocol}.{self.side}.{self.trial}.{self.field}"


def snapshot_path(snapshot: "Snapshot", filename: str) -> str:
    return f"assessments/{snapshot.assessment.uuid}/{snapshot.uuid}.jpg"


class Snapshot(models.Model):
    """A still of the client's video, kept only with their consent to images."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="snapshots")
    protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH)
    side = models.CharField(max_length=8, choices=SIDE_CHOICES, blank=True)
    trial = models.PositiveSmallIntegerField(null=True, blank=True)
    image = models.FileField(upload_to=snapshot_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # The consent that allowed keeping it.
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="+")
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["taken_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trial__isnull=True) | _trial_in_range(), name="snapshot_trial"
            ),
            models.CheckConstraint(condition=Q(side__in=[*SIDES, ""]), name="snapshot_side"),
        ]

    def __str__(self) -> str:
        return f"Snapshot of {self.protocol} at {self.taken_at:%Y-%m-%d %H:%M}"

    @property
    def protocol_name(self) -> str:
        return protocol_name(self.protocol)


class Addendum(models.Model):
    """A change after completion: a note, and optionally a corrected value."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="addenda")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    body = models.TextField(max_length=2000)
    # The corrected value, if any (its address and the value before and after).
    protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH, blank=True)
    side = models.CharField(max_length=8, choices=SIDE_CHOICES, blank=True)
    trial = models.PositiveSmallIntegerField(null=True, blank=True)
    field = models.CharField(max_length=40, blank=True)
    previous_value = models.JSONField(null=True, blank=True)
    corrected_value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trial__isnull=True) | _trial_in_range(), name="addendum_trial"
            ),
        ]

    def __str__(self) -> str:
        return f"Addendum by {self.author} on {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_correction(self) -> bool:
        return bool(self.field)

    @property
    def correction(self) -> str:
        """ "Figure-4 (FABER), left, trial 1: knee height above the surface 17 cm → 14 cm"."""
        return self._correction(for_client=False)

    @property
    def correction_for_client(self) -> str:
        """The correction with the field named as on the client's results page."""
        return self._correction(for_client=True)

    def _correction(self, *, for_client: bool) -> str:
        protocol = PROTOCOLS.get(self.protocol)
        definition = protocol.field_or_none(self.field) if protocol else None
        if protocol is None or definition is None:
            # A test or field since taken out of the registry: its stored address.
            return (
                f"{self.protocol}.{self.side}.{self.trial}.{self.field}: "
                f"{self.previous_value} → {self.corrected_value}"
            )
        trial = f", trial {self.trial}" if definition.trials > 1 else ""
        return (
            f"{protocol.name}, {self.side}{trial}: "
            f"{(definition.label_for_client if for_client else definition.label).lower()} "
            f"{definition.display(self.previous_value)} → "
            f"{definition.display(self.corrected_value)}"
        )

    @property
    def for_client(self) -> bool:
        """Whether the client reads it: a corrected result they can see, not the clinician's
        words (the body is a clinician's note, and so is a corrected note)."""
        return self.is_correction and self.field != "notes"


class Finding(models.Model):
    """A flag derived from the results; replaced whenever the results change."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="findings")
    key = models.CharField(max_length=40)
    protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH)
    side = models.CharField(max_length=8, choices=SIDE_CHOICES, blank=True)
    title = models.CharField(max_length=200)
    detail = models.CharField(max_length=500)
    targets = models.JSONField(default=list)
    sources = models.JSONField(default=list)
    threshold = models.CharField(max_length=40, blank=True)
    threshold_value = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "key", "side"], name="finding_once_per_side"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def identity(self) -> str:
        return f"{self.key}:{self.side or 'both'}"

    @property
    def threshold_used(self) -> ThresholdUsed | None:
        """The threshold as it was when the finding was derived, with its source."""
        return ThresholdUsed.of(self.threshold, self.threshold_value)
