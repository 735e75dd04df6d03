"""Booking: services, clinicians' working hours, time off, extra hours and appointments."""

import datetime as dt
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from clinic.models import Client, Clinician, Intake, OutgoingEmail, User
from sessions.limits import MAX_BUFFER_MINUTES, MAX_DURATION_MINUTES


class Service(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(5), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    buffer_before_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_BUFFER_MINUTES)],
        help_text="Kept free before the session; no other booking may overlap it.",
    )
    buffer_after_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_BUFFER_MINUTES)],
        help_text="Kept free after the session, e.g. for notes.",
    )
    minimum_notice_minutes = models.PositiveIntegerField(
        default=120, help_text="How soon before the start a client may still book."
    )
    booking_horizon_days = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="How far ahead clients may book.",
    )
    change_window_hours = models.PositiveSmallIntegerField(
        default=24,
        help_text="Clients may cancel or reschedule online until this many hours before the start.",
    )
    slot_interval_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
        help_text="Start times are offered every this many minutes.",
    )
    clinicians = models.ManyToManyField(Clinician, related_name="services", blank=True)
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the booking page.")

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5, duration_minutes__lte=MAX_DURATION_MINUTES),
                name="service_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    buffer_before_minutes__lte=MAX_BUFFER_MINUTES,
                    buffer_after_minutes__lte=MAX_BUFFER_MINUTES,
                ),
                name="service_buffer_range",
            ),
            models.CheckConstraint(
                condition=Q(slot_interval_minutes__gte=5), name="service_slot_interval_min"
            ),
            models.CheckConstraint(
                condition=Q(booking_horizon_days__gte=1), name="service_horizon_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.duration_minutes)

    def appointment_times(self, starts_at: dt.datetime) -> dict[str, dt.datetime]:
        """The session and the range it blocks (with this service's buffers) for a start."""
        ends_at = starts_at + self.duration
        return {
            "starts_at": starts_at,
            "ends_at": ends_at,
            "blocked_from": starts_at - dt.timedelta(minutes=self.buffer_before_minutes),
            "blocked_until": ends_at + dt.timedelta(minutes=self.buffer_after_minutes),
        }


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyHours(models.Model):
    """A recurring working period, in the clinician's own time zone."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinician = models.ForeignKey(Clinician, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["clinician", "weekday", "starts_at"]
        verbose_name_plural = "weekly hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="weekly_hours_start_before_end"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="weekly_hours_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class TimeOff(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinician = models.ForeignKey(Clinician, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="time_off_start_before_end"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.clinician}: off {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"
        )


class ExtraHours(models.Model):
    """One-off working time outside the weekly hours."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinician = models.ForeignKey(Clinician, on_delete=models.CASCADE, related_name="extra_hours")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "extra hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="extra_hours_start_before_end"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.clinician}: extra {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"
        )


class AppointmentStatus(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    WAITING = "waiting", "Client waiting"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    # The client came to the room (and may have left the waiting room again) but was never
    # let in before the session ended; a no-show never joined at all.
    NOT_STARTED = "not_started", "Not started"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    """A booked session.

    ``blocked_from``/``blocked_until`` are the session plus the service's buffers at booking
    time. In PostgreSQL an exclusion constraint (migration 0002) forbids two live appointments
    of one clinician whose blocked ranges overlap.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="appointments")
    # Indexed by appointment_clinician_from (clinician first), not on its own.
    clinician = models.ForeignKey(
        Clinician, on_delete=models.PROTECT, related_name="appointments", db_index=False
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    blocked_from = models.DateTimeField()
    blocked_until = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=AppointmentStatus, default=AppointmentStatus.CONFIRMED
    )
    # iCalendar SEQUENCE: raised on every change so calendars replace the old invitation.
    sequence = models.PositiveIntegerField(default=0)
    intake = models.ForeignKey(
        Intake, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancellation_reason = models.CharField(max_length=500, blank=True)
    # The live session: when the clinician let the client in, and when it ended.
    admitted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # What the client's room page shows besides the video, e.g. the instructions of the test
    # the clinician has open (see sessions.room.services.room_prompt_set); empty for nothing.
    room_prompt = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["clinician", "blocked_from"], name="appointment_clinician_from"),
            models.Index(fields=["client", "starts_at"], name="appointment_client_start"),
            # Appointment reminders look up the confirmed appointments of the next day.
            models.Index(
                fields=["starts_at"],
                name="appointment_confirmed_start",
                condition=Q(status="confirmed"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="appointment_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(blocked_from__lte=F("starts_at"), blocked_until__gte=F("ends_at")),
                name="appointment_blocked_covers_session",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AppointmentStatus.values), name="appointment_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service.name} with {self.clinician} on {self.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def is_cancelled(self) -> bool:
        return self.status == AppointmentStatus.CANCELLED


class ParticipantRole(models.TextChoices):
    CLIENT = "client", "Client"
    CLINICIAN = "clinician", "Clinician"


class AppointmentEvent(models.TextChoices):
    BOOKED = "booked", "Booked"
    RESCHEDULED = "rescheduled", "Rescheduled"
    CANCELLED = "cancelled", "Cancelled"


class AppointmentEmail(OutgoingEmail):
    """The email a participant is owed about one change of an appointment (its ``sequence``).

    Only the latest change's email is worth sending: it carries the whole invitation (or the
    cancellation) with that sequence.
    """

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="emails")
    recipient = models.CharField(max_length=16, choices=ParticipantRole)
    sequence = models.PositiveIntegerField()
    event = models.CharField(max_length=16, choices=AppointmentEvent)
    # For a new time: the time before the change, which the email and its invitation state.
    previous_starts_at = models.DateTimeField(null=True, blank=True)

    class Meta(OutgoingEmail.Meta):
        ordering = ["created_at", "id"]
        constraints = [
            *OutgoingEmail.Meta.constraints,
            models.UniqueConstraint(
                fields=["appointment", "recipient", "sequence"],
                name="appointment_email_one_per_change",
            ),
            models.CheckConstraint(
                condition=Q(recipient__in=ParticipantRole.values),
                name="appointment_email_recipient_valid",
            ),
            models.CheckConstraint(
                condition=Q(event__in=AppointmentEvent.values),
                name="appointment_email_event_valid",
            ),
        ]
        indexes = [
            # The sweep's: emails still to send, by when to try again.
            models.Index(
                fields=["retry_at"],
                name="appointment_email_unsent",
                condition=Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} email {self.sequence} to the {self.recipient}: {self.state}"


class RoomEventKind(models.TextChoices):
    JOINED = "joined", "Joined"
    ADMITTED = "admitted", "Admitted"
    CONNECTED = "connected", "Connected"
    LEFT = "left", "Left"
    ENDED = "ended", "Ended"
    CLOSED = "closed", "Room closed"


class RoomEvent(models.Model):
    """What happened in an appointment's room, and when."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="room_events"
    )
    kind = models.CharField(max_length=16, choices=RoomEventKind)
    # Empty for events the server causes on its own, such as closing the room.
    role = models.CharField(max_length=16, choices=ParticipantRole, blank=True)
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["appointment", "at"], name="room_event_appointment_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.role or 'server'} {self.kind}"


class ChatMessage(models.Model):
    """Chat during a session, kept with the appointment."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="chat_messages"
    )
    sender = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    sender_role = models.CharField(max_length=16, choices=ParticipantRole)
    body = models.TextField(max_length=2000)
    sent_at = models.DateTimeField()
    # The id the sender's page chose: a message resent after a reconnect is kept once.
    client_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["appointment", "sent_at"], name="chat_appointment_sent")]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "client_id"], name="chat_one_message_per_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sent_at:%H:%M} {self.sender_role}: {self.body[:40]}"


class RoomConnection(models.Model):
    """The one open signaling connection of each participant; a newer tab takes the seat."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="room_connections"
    )
    role = models.CharField(max_length=16, choices=ParticipantRole)
    channel_name = models.CharField(max_length=200)
    connected_at = models.DateTimeField()
    # Refreshed by the open consumer every ROOM_SEAT_HEARTBEAT_SECONDS: a seat left stale
    # was held by a consumer that died without leaving.
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "role"], name="room_one_seat_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.role} in {self.appointment_id} since {self.connected_at:%H:%M:%S}"
