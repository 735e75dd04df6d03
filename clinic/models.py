"""People and client records: users, clinicians, clients, intake, consent, notes, audit log."""

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from clinic.validators import validate_time_zone


def normalize_email(email: str) -> str:
    """Emails identify accounts, so two spellings that differ only in case are one account."""
    return email.strip().lower()


class Role(models.TextChoices):
    CLIENT = "client", "Client"
    CLINICIAN = "clinician", "Clinician"
    ADMIN = "admin", "Clinic admin"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.update(role=Role.ADMIN, is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role, default=Role.CLIENT)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/London. Times are shown in this zone.",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the clinic admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_case_insensitive_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_client(self) -> bool:
        return self.role == Role.CLIENT

    @property
    def is_clinician(self) -> bool:
        return self.role == Role.CLINICIAN

    @property
    def is_clinic_admin(self) -> bool:
        return self.role == Role.ADMIN


class Profession(models.TextChoices):
    PHYSIOTHERAPIST = "physiotherapist", "Physiotherapist"
    MOBILITY_COACH = "mobility_coach", "Mobility coach"
    MASSAGE_THERAPIST = "massage_therapist", "Clinical massage therapist"


class Clinician(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="clinician")
    profession = models.CharField(max_length=32, choices=Profession)
    bio = models.TextField(blank=True, max_length=2000)
    is_bookable = models.BooleanField(default=True, help_text="Shown to clients when they book.")

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.full_name

    @property
    def name(self) -> str:
        return self.user.full_name

    @property
    def time_zone(self) -> str:
        return self.user.time_zone


class DominantLeg(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    UNSURE = "unsure", "Not sure"


class Sex(models.TextChoices):
    """Only used to compare movement tests with sex-specific reference values."""

    FEMALE = "female", "Female"
    MALE = "male", "Male"
    NOT_RECORDED = "", "Not recorded"


class Client(models.Model):
    """A client's record. Name, email and time zone live on the user account."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="client")
    phone = models.CharField(max_length=32, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    dominant_leg = models.CharField(max_length=8, choices=DominantLeg, default=DominantLeg.UNSURE)
    sex = models.CharField(
        max_length=8,
        choices=Sex,
        blank=True,
        default=Sex.NOT_RECORDED,
        help_text="Used only to compare movement tests with sex-specific reference values.",
    )
    emergency_contact_name = models.CharField(max_length=150, blank=True)
    emergency_contact_phone = models.CharField(max_length=32, blank=True)
    red_flag_raised_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when an intake answer needs in-person care; cleared by a clinician.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.full_name

    @property
    def name(self) -> str:
        return self.user.full_name

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def time_zone(self) -> str:
        return self.user.time_zone


class KneePainSide(models.TextChoices):
    LEFT = "left", "Left knee"
    RIGHT = "right", "Right knee"
    BOTH = "both", "Both knees"


class PainDuration(models.TextChoices):
    UNDER_2_WEEKS = "under_2_weeks", "Less than 2 weeks"
    WEEKS_2_TO_6 = "2_to_6_weeks", "2 to 6 weeks"
    WEEKS_6_TO_12 = "6_to_12_weeks", "6 weeks to 3 months"
    MONTHS_3_TO_12 = "3_to_12_months", "3 to 12 months"
    OVER_1_YEAR = "over_1_year", "More than a year"


class AggravatingActivity(models.TextChoices):
    STAIRS = "stairs", "Stairs"
    SQUATTING = "squatting", "Squatting"
    KNEELING = "kneeling", "Kneeling"
    RUNNING = "running", "Running"
    JUMPING = "jumping", "Jumping or landing"
    WALKING = "walking", "Walking"
    SITTING = "sitting", "Sitting for a long time"
    CYCLING = "cycling", "Cycling"
    TWISTING = "twisting", "Turning or pivoting"


class Intake(models.Model):
    """The answers a client gives when booking; a new set each time they book."""

    RED_FLAG_FIELDS: ClassVar[dict[str, str]] = {
        "knee_locking": "Knee locks or gets stuck",
        "knee_giving_way": "Knee gives way",
        "hot_swollen_joint": "Hot, swollen knee",
        "fever": "Fever or feeling unwell",
        "night_pain": "Pain that wakes you at night",
    }

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="intakes")
    submitted_at = models.DateTimeField(default=timezone.now)
    knee_pain_side = models.CharField(max_length=8, choices=KneePainSide)
    pain_duration = models.CharField(max_length=16, choices=PainDuration)
    pain_now = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(10)],
        help_text="0 = no pain, 10 = worst pain imaginable",
    )
    aggravating_activities = models.JSONField(default=list, blank=True)
    aggravating_other = models.CharField(max_length=500, blank=True)
    previous_injuries = models.TextField(max_length=2000, blank=True)
    knee_locking = models.BooleanField(default=False)
    knee_giving_way = models.BooleanField(default=False)
    hot_swollen_joint = models.BooleanField(default=False)
    fever = models.BooleanField(default=False)
    night_pain = models.BooleanField(default=False)

    class Meta:
        ordering = ["-submitted_at"]
        get_latest_by = "submitted_at"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pain_now__gte=0, pain_now__lte=10), name="intake_pain_0_to_10"
            ),
        ]

    def __str__(self) -> str:
        return f"Intake of {self.submitted_at:%Y-%m-%d}"

    @property
    def red_flags(self) -> list[str]:
        return [label for field, label in self.RED_FLAG_FIELDS.items() if getattr(self, field)]

    @property
    def aggravating_activity_labels(self) -> list[str]:
        labels = dict(AggravatingActivity.choices)
        return [labels.get(code, code) for code in self.aggravating_activities]


class ConsentKind(models.TextChoices):
    TELEHEALTH = "telehealth", "Telehealth consultation"
    IMAGES = "images", "Photos and video stills of assessments"


class ConsentDocument(models.Model):
    """A published version of a consent text. Published versions are never edited."""

    kind = models.CharField(max_length=16, choices=ConsentKind)
    version = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "-published_at"]
        get_latest_by = "published_at"
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="consent_document_version"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"


class Consent(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="consents")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)
    accepted_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="The signed-in account that accepted. Empty when the booker was not signed "
        "in: anyone can type an email, so only the name typed, the time and the address are "
        "known.",
    )
    signed_name = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(fields=["client", "document"], name="consent_once_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.document} accepted {self.accepted_at:%Y-%m-%d}"


class ClinicianNote(models.Model):
    """Private to clinicians: never shown to the client."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Note by {self.author.full_name} on {self.created_at:%Y-%m-%d}"


class SignInLink(models.Model):
    """A one-time sign-in link emailed to a client; the row makes it single use."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_links")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    next_path = models.CharField(max_length=500, blank=True)
    requested_from = models.GenericIPAddressField(null=True, blank=True)
    # When the link went out: a task run again (its worker died before acknowledging it, or
    # the broker handed it out twice) does not email it again.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="sign_in_link_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"Sign-in link for {self.user.email}, created {self.created_at:%Y-%m-%d %H:%M}"


class OutgoingEmail(models.Model):
    """An email owed to someone about a change, written in the change's own transaction, so
    that whatever happens to the task queued after the commit, the database knows it is owed.

    The task sends it under this row's lock and marks it sent once the mail server accepted it
    (``clinic.emails.outgoing_email_send``): a second copy of the task waits, then finds it sent.
    Beat queues again those neither sent nor refused for good, a few minutes after the change
    and then less and less often (``clinic.emails.outgoing_emails_resend``).
    """

    created_at = models.DateTimeField()
    # When the sweep may queue it (again).
    retry_at = models.DateTimeField()
    # How many times the sweep has queued it again.
    resent = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The mail server refused the address for good (5xx): trying again cannot help.
    failed_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sent_at__isnull=True) | models.Q(failed_at__isnull=True),
                name="%(app_label)s_%(class)s_sent_or_failed",
            ),
        ]

    @property
    def state(self) -> str:
        return "sent" if self.sent_at else "refused" if self.failed_at else "to send"


class AuditAction(models.TextChoices):
    VIEWED = "viewed", "Viewed"
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"
    SIGNED_IN = "signed_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionDenied("The audit log cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("The audit log cannot be changed.")


class AuditEvent(models.Model):
    """Who saw or changed what, when, and from where. Append only (also enforced in PostgreSQL)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction)
    object_type = models.CharField(max_length=50)
    object_uuid = models.UUIDField(null=True, blank=True)
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    path = models.CharField(max_length=500, blank=True)
    changes = models.JSONField(
        default=list, blank=True, help_text="Names of the fields that changed, never their values."
    )

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["client", "-at"], name="audit_client_at")]

    def __str__(self) -> str:
        actor = self.actor_email or "anonymous"
        return f"{self.at:%Y-%m-%d %H:%M} {actor} {self.action} {self.object_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied("The audit log cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionDenied("The audit log cannot be changed.")
