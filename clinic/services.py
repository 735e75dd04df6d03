"""Changes to people and client records; each writes its audit row in the same transaction."""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.audit import RequestContext, audit_record
from clinic.models import (
    AuditAction,
    Client,
    ClinicianNote,
    Consent,
    ConsentDocument,
    ConsentKind,
    DominantLeg,
    Intake,
    Role,
    User,
    normalize_email,
)


class StaffEmailError(Exception):
    """The email belongs to a clinician or admin account, which cannot book as a client."""


CLIENT_RECORD_FIELDS = (
    "phone",
    "date_of_birth",
    "dominant_leg",
    "sex",
    "emergency_contact_name",
    "emergency_contact_phone",
)
USER_FIELDS = ("full_name", "time_zone")


def _user_lock_or_create(*, email: str, full_name: str, time_zone: str) -> User:
    """The user with this (normalized) email, locked until the transaction ends.

    FOR UPDATE locks nothing while the row does not exist, so two bookings with the same new
    email can both miss it; the unique index then makes the later insert wait for the first
    transaction and fail once it commits. That insert runs in a savepoint so the booking
    carries on with the row the other transaction created.
    """
    user = User.objects.select_for_update().filter(email=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, full_name=full_name, time_zone=time_zone, role=Role.CLIENT
            )
    except IntegrityError:
        user = User.objects.select_for_update().filter(email=email).first()
        if user is None:
            raise
        return user


@transaction.atomic
def client_find_or_create(
    *,
    email: str,
    full_name: str,
    time_zone: str,
    actor: User | None,
    context: RequestContext,
    details: Mapping[str, Any] | None = None,
) -> Client:
    """The client with this email, created if new.

    Booking does not require signing in, so whoever books with an existing email only fills
    what the record is missing: they cannot overwrite a client's details.
    """
    details = dict(details or {})
    email = normalize_email(email)
    user = _user_lock_or_create(email=email, full_name=full_name, time_zone=time_zone)
    if user.role != Role.CLIENT:
        raise StaffEmailError(email)
    client, created = Client.objects.select_for_update().get_or_create(
        user=user,
        defaults={field: details[field] for field in CLIENT_RECORD_FIELDS if field in details},
    )
    if created:
        audit_record(
            actor=actor,
            action=AuditAction.CREATED,
            object_type="client",
            object_uuid=client.uuid,
            client=client,
            context=context,
        )
        return client

    filled = []
    for field in CLIENT_RECORD_FIELDS:
        value = details.get(field)
        current = getattr(client, field)
        is_blank = current in ("", None) or (
            field == "dominant_leg" and current == DominantLeg.UNSURE
        )
        if value not in ("", None) and is_blank and value != current:
            setattr(client, field, value)
            filled.append(field)
    if filled:
        client.save(update_fields=[*filled, "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATED,
            object_type="client",
            object_uuid=client.uuid,
            client=client,
            context=context,
            changes=filled,
        )
    return client


@transaction.atomic
def client_profile_update(
    *, client: Client, actor: User, context: RequestContext, data: Mapping[str, Any]
) -> list[str]:
    """Apply the changed fields of the profile form; returns the names of those that changed."""
    user = client.user
    user_changed = [f for f in USER_FIELDS if f in data and getattr(user, f) != data[f]]
    record_changed = [
        f for f in CLIENT_RECORD_FIELDS if f in data and getattr(client, f) != data[f]
    ]
    for field in user_changed:
        setattr(user, field, data[field])
    for field in record_changed:
        setattr(client, field, data[field])
    if user_changed:
        user.save(update_fields=user_changed)
    if record_changed:
        client.save(update_fields=[*record_changed, "updated_at"])
    changed = user_changed + record_changed
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATED,
            object_type="client",
            object_uuid=client.uuid,
            client=client,
            context=context,
            changes=changed,
        )
    return changed


INTAKE_FIELDS = (
    "knee_pain_side",
    "pain_duration",
    "pain_now",
    "aggravating_activities",
    "aggravating_other",
    "previous_injuries",
    *Intake.RED_FLAG_FIELDS,
)


@transaction.atomic
def intake_submit(
    *,
    client: Client,
    answers: Mapping[str, Any],
    actor: User | None,
    context: RequestContext,
    now: dt.datetime | None = None,
) -> Intake:
    """Store a set of intake answers; a red flag marks the client's record for attention."""
    now = now or timezone.now()
    intake = Intake.objects.create(
        client=client,
        submitted_at=now,
        **{field: answers[field] for field in INTAKE_FIELDS if field in answers},
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATED,
        object_type="intake",
        object_uuid=intake.uuid,
        client=client,
        context=context,
    )
    if intake.red_flags and client.red_flag_raised_at is None:
        client.red_flag_raised_at = now
        client.save(update_fields=["red_flag_raised_at", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATED,
            object_type="client",
            object_uuid=client.uuid,
            client=client,
            context=context,
            changes=["red_flag_raised_at"],
        )
    return intake


@transaction.atomic
def client_red_flag_clear(*, client: Client, actor: User, context: RequestContext) -> None:
    """A clinician has reviewed the red flag answers with the client."""
    if client.red_flag_raised_at is None:
        return
    client.red_flag_raised_at = None
    client.save(update_fields=["red_flag_raised_at", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATED,
        object_type="client",
        object_uuid=client.uuid,
        client=client,
        context=context,
        changes=["red_flag_raised_at"],
    )


def consent_document_current(kind: ConsentKind) -> ConsentDocument | None:
    return (
        ConsentDocument.objects.filter(kind=kind, published_at__lte=timezone.now())
        .order_by("-published_at")
        .first()
    )


@transaction.atomic
def consent_accept(
    *,
    client: Client,
    document: ConsentDocument,
    accepted_by: User | None,
    signed_name: str,
    context: RequestContext,
    now: dt.datetime | None = None,
) -> Consent:
    """Record acceptance of one consent version; accepting the same version again is a no-op.

    ``accepted_by`` is the signed-in account, or None for someone who was not signed in.
    """
    consent, created = Consent.objects.get_or_create(
        client=client,
        document=document,
        defaults={
            "accepted_at": now or timezone.now(),
            "accepted_by": accepted_by,
            "signed_name": signed_name,
            "ip_address": context.ip_address,
            "user_agent": context.user_agent,
        },
    )
    if created:
        audit_record(
            actor=accepted_by,
            action=AuditAction.CREATED,
            object_type="consent",
            object_uuid=consent.uuid,
            client=client,
            context=context,
        )
    return consent


@transaction.atomic
def clinician_note_add(
    *, client: Client, author: User, body: str, context: RequestContext
) -> ClinicianNote:
    note = ClinicianNote.objects.create(client=client, author=author, body=body)
    audit_record(
        actor=author,
        action=AuditAction.CREATED,
        object_type="clinician_note",
        object_uuid=note.uuid,
        client=client,
        context=context,
    )
    return note


def client_record_viewed(*, client: Client, viewer: User, context: RequestContext) -> None:
    audit_record(
        actor=viewer,
        action=AuditAction.VIEWED,
        object_type="client",
        object_uuid=client.uuid,
        client=client,
        context=context,
    )
