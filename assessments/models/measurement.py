"""Measurements from the client's camera: what the pose analysis found, kept with the result.

No video is kept: only the landmarks of the analysed frames (shoulders to toes) and the
numbers derived from them.
"""

import uuid

from django.db import models

from assessments.models.assessment import PROTOCOL_KEY_LENGTH, SIDE_CHOICES, Assessment
from clinic.models import User


class MeasurementStatus(models.TextChoices):
    STARTED = "started", "Waiting for the client's camera"
    RUNNING = "running", "Measuring"
    ENDED = "ended", "Ended"
    FAILED = "failed", "Failed"


class Measurement(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.ForeignKey(
        Assessment, on_delete=models.CASCADE, related_name="measurements"
    )
    protocol = models.CharField(max_length=PROTOCOL_KEY_LENGTH)
    side = models.CharField(max_length=8, choices=SIDE_CHOICES)
    status = models.CharField(
        max_length=8, choices=MeasurementStatus, default=MeasurementStatus.STARTED
    )
    model_name = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    # The media worker process's channel while it runs, and when it last said it was alive
    # (every MEDIA_HEARTBEAT_SECONDS): a worker that died leaves a running row behind, which is
    # failed once it has been silent for MEDIA_WORKER_TIMEOUT_SECONDS.
    worker_channel = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Frames that arrived, that were analysed, and that were skipped unanalysed because the
    # analysis was behind (the newest frame wins).
    frames_received = models.PositiveIntegerField(default=0)
    frames_analysed = models.PositiveIntegerField(default=0)
    frames_dropped = models.PositiveIntegerField(default=0)
    # How far the values can be trusted: of the frames analysed, those used and those left
    # out, by reason (assessments.pose.analysis.LEFT_OUT_REASONS); the mean confidence of the
    # used frames (their least visible landmark) and the mean visibility of the skeleton.
    frames_used = models.PositiveIntegerField(default=0)
    frames_left_out = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    visibility = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    # [[seconds, [[x, y, visibility] × 12]] …] for the analysed frames (capped).
    landmarks = models.JSONField(default=list, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["assessment", "status"], name="measurement_assessment")]

    def __str__(self) -> str:
        return f"{self.protocol} {self.side} measurement ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in (MeasurementStatus.STARTED, MeasurementStatus.RUNNING)
