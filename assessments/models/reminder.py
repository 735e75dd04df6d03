"""Reminders: rows with a due time in UTC, claimed and sent by a beat task each minute."""

import datetime as dt
import uuid

from django.db import models
from django.db.models import Q

from assessments.models.program import Plan
from clinic.models import Client
from sessions.models import Appointment

DEFAULT_REMINDER_TIME = dt.time(8, 0)


class ReminderPreference(models.Model):
    """When a client wants their practice reminders, and whether at all."""

    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, related_name="reminder_preference"
    )
    # On the client's own clock (their profile's IANA zone).
    local_time = models.TimeField(default=DEFAULT_REMINDER_TIME)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Reminders for {self.client} at {self.local_time:%H:%M}"

    @property
    def active(self) -> bool:
        return self.stopped_at is None


class ReminderKind(models.TextChoices):
    PRACTICE = "practice", "Practice today"
    WEEKLY_CHECK_IN = "weekly_check_in", "Weekly check-in"
    PHASE_START = "phase_start", "New phase starts"
    REASSESSMENT = "reassessment", "Book your re-assessment"
    APPOINTMENT_24H = "appointment_24h", "Appointment tomorrow"
    APPOINTMENT_1H = "appointment_1h", "Appointment in an hour"


PROGRAM_KINDS = (
    ReminderKind.PRACTICE,
    ReminderKind.WEEKLY_CHECK_IN,
    ReminderKind.PHASE_START,
    ReminderKind.REASSESSMENT,
)
APPOINTMENT_KINDS = (ReminderKind.APPOINTMENT_24H, ReminderKind.APPOINTMENT_1H)


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Reminder(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="reminders")
    plan = models.ForeignKey(
        Plan, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    kind = models.CharField(max_length=20, choices=ReminderKind)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ReminderStatus, default=ReminderStatus.PENDING)
    # After a failed attempt, the next one waits until then (backoff).
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The day (client's calendar) and phase a program reminder is about.
    day = models.DateField(null=True, blank=True)
    phase_number = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="reminder_due",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["client", "due_at"], name="reminder_client_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReminderStatus.values), name="reminder_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=ReminderStatus.SENT) | Q(sent_at__isnull=False),
                name="reminder_sent_has_time",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in PROGRAM_KINDS], plan__isnull=False)
                | Q(kind__in=[k.value for k in APPOINTMENT_KINDS], appointment__isnull=False),
                name="reminder_has_subject",
            ),
            # A plan or an appointment never has two live reminders of one kind at one time.
            models.UniqueConstraint(
                fields=["plan", "kind", "due_at"],
                condition=Q(plan__isnull=False) & ~Q(status="cancelled"),
                name="reminder_plan_once",
            ),
            models.UniqueConstraint(
                fields=["appointment", "kind", "due_at"],
                condition=Q(appointment__isnull=False) & ~Q(status="cancelled"),
                name="reminder_appointment_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.client} at {self.due_at:%Y-%m-%d %H:%M} UTC"
