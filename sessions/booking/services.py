"""Booking, rescheduling and cancelling appointments."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinic.audit import RequestContext, audit_record
from clinic.models import AuditAction, Client, Clinician, ConsentDocument, Role, User
from clinic.services import client_find_or_create, consent_accept, intake_submit
from sessions.booking.emails import appointment_emails_queue
from sessions.booking.selectors import SlotState, slot_state
from sessions.models import Appointment, AppointmentEvent, AppointmentStatus, Service

# Created by migration 0002 in PostgreSQL.
NO_OVERLAP_CONSTRAINT = "appointment_no_overlap"


class BookingError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SlotUnavailable(BookingError):
    status = 409


class SlotNotOffered(BookingError):
    """A time that was never one of the clinician's start times (a hand-made or stale link)."""

    status = 400


class ChangeNotAllowed(BookingError):
    status = 409


def _is_overlap_violation(error: IntegrityError) -> bool:
    diagnostics = getattr(error.__cause__, "diag", None)
    return getattr(diagnostics, "constraint_name", None) == NO_OVERLAP_CONSTRAINT


TAKEN = (
    "Sorry, this time was just taken or is no longer available. Please pick another time: "
    "everything else you entered is kept."
)


def not_offered_message(service: Service, clinician: Clinician) -> str:
    return (
        f"That is not a time we offer: sessions with {clinician.name} start every "
        f"{service.slot_interval_minutes} minutes within their working hours. "
        "Please pick one of the free times."
    )


def _slot_check(
    *,
    service: Service,
    clinician: Clinician,
    starts_at: dt.datetime,
    now: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> None:
    state = slot_state(
        service=service,
        clinician=clinician,
        starts_at=starts_at,
        now=now,
        exclude_appointment_id=exclude_appointment_id,
    )
    if state is SlotState.NOT_OFFERED:
        raise SlotNotOffered(not_offered_message(service, clinician))
    if state is SlotState.TAKEN:
        raise SlotUnavailable(TAKEN)


def appointment_book(
    *,
    service: Service,
    clinician: Clinician,
    client: Client,
    starts_at: dt.datetime,
    actor: User | None,
    context: RequestContext,
    intake_id: int | None = None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Book a free slot. Raises SlotUnavailable when it is not free, including a lost race, and
    SlotNotOffered for a time that is none of the clinician's start times."""
    now = now or timezone.now()
    if not service.is_active or not service.clinicians.filter(pk=clinician.pk).exists():
        raise SlotUnavailable(TAKEN)
    with transaction.atomic():
        _lock_schedule(clinician)
        # Under the lock the check decides; the exclusion constraint stays as the guarantee
        # for any writer that does not take the lock.
        _slot_check(service=service, clinician=clinician, starts_at=starts_at, now=now)
        try:
            with transaction.atomic():
                appointment = Appointment.objects.create(
                    service=service,
                    clinician=clinician,
                    client=client,
                    intake_id=intake_id,
                    **service.appointment_times(starts_at),
                )
        except IntegrityError as error:
            if _is_overlap_violation(error):
                raise SlotUnavailable(TAKEN) from error
            raise
        audit_record(
            actor=actor,
            action=AuditAction.CREATED,
            object_type="appointment",
            object_uuid=appointment.uuid,
            client=client,
            context=context,
        )
        appointment_emails_queue(appointment, event=AppointmentEvent.BOOKED, now=now)
    return appointment


@dataclass(frozen=True)
class BookingRequest:
    service: Service
    clinician: Clinician
    starts_at: dt.datetime
    email: str
    full_name: str
    time_zone: str
    details: Mapping[str, Any]
    intake: Mapping[str, Any]
    consents: tuple[ConsentDocument, ...]


def booking_submit(
    *, request: BookingRequest, actor: User | None, context: RequestContext
) -> Appointment:
    """The booking form as one change: client record, intake, consents and the appointment.

    If the slot is gone nothing is saved, so the client can pick another time and resubmit.
    """
    # Checked first without the schedule lock or a transaction: when many people want the same
    # few times, everyone after the winners is answered at once, without writing anything and
    # without queueing for the lock (appointment_book checks again under it).
    _slot_check(
        service=request.service,
        clinician=request.clinician,
        starts_at=request.starts_at,
        now=timezone.now(),
    )
    with transaction.atomic():
        return _booking_save(request=request, actor=actor, context=context)


def _booking_save(
    *, request: BookingRequest, actor: User | None, context: RequestContext
) -> Appointment:
    signed_in_client = actor is not None and actor.is_authenticated and actor.role == Role.CLIENT
    email = actor.email if signed_in_client else request.email
    client = client_find_or_create(
        email=email,
        full_name=request.full_name,
        time_zone=request.time_zone,
        actor=actor,
        context=context,
        details=request.details,
    )
    intake = intake_submit(client=client, answers=request.intake, actor=actor, context=context)
    for document in request.consents:
        consent_accept(
            client=client,
            document=document,
            # Whoever books without signing in is not known to be the client, whatever email
            # they typed: the consent keeps their name, address and time, not the account.
            accepted_by=actor if signed_in_client else None,
            signed_name=request.full_name,
            context=context,
        )
    return appointment_book(
        service=request.service,
        clinician=request.clinician,
        client=client,
        starts_at=request.starts_at,
        actor=actor,
        context=context,
        intake_id=intake.pk,
    )


def change_deadline(appointment: Appointment) -> dt.datetime:
    """Until when the client may cancel or reschedule online."""
    return appointment.starts_at - dt.timedelta(hours=appointment.service.change_window_hours)


def client_may_change(appointment: Appointment, *, now: dt.datetime) -> bool:
    return appointment.status == AppointmentStatus.CONFIRMED and now <= change_deadline(appointment)


def _bound_lock_waits() -> None:
    """Until the transaction ends, a lock not granted within BOOKING_LOCK_TIMEOUT_MS fails the
    statement (LockNotAvailable) instead of waiting on, holding a pooled connection: the
    visitor is told the clinic is busy (telehealth/unavailable.py) and nothing is saved."""
    if connection.vendor == "postgresql" and settings.BOOKING_LOCK_TIMEOUT_MS > 0:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{settings.BOOKING_LOCK_TIMEOUT_MS}ms"],
            )


def _lock_schedule(clinician: Clinician) -> None:
    """Serialize changes to one clinician's bookings until the transaction ends.

    Without it, simultaneous inserts that clash on the exclusion constraint can wait on each
    other and PostgreSQL aborts one as a deadlock instead of reporting the clash. Clinicians
    are locked before appointments everywhere, so lock order is always the same. (SQLite's
    write transactions are already serialized: select_for_update is a no-op there.)
    """
    _bound_lock_waits()
    Clinician.objects.select_for_update().filter(pk=clinician.pk).exists()


def _lock(appointment: Appointment) -> Appointment:
    _bound_lock_waits()
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("service", "clinician__user", "client__user")
        .get(pk=appointment.pk)
    )


def _check_may_change(appointment: Appointment, *, by_client: bool, now: dt.datetime) -> None:
    if appointment.status != AppointmentStatus.CONFIRMED:
        raise ChangeNotAllowed("This appointment has been cancelled already.")
    if by_client and now > change_deadline(appointment):
        raise ChangeNotAllowed(
            "This appointment starts too soon to change online "
            f"(changes are possible up to {appointment.service.change_window_hours} hours "
            "before the start). Please contact the clinic."
        )
    if appointment.ends_at <= now:
        raise ChangeNotAllowed("This appointment is in the past.")


def appointment_reschedule(
    *,
    appointment: Appointment,
    starts_at: dt.datetime,
    actor: User | None,
    by_client: bool,
    context: RequestContext,
    now: dt.datetime | None = None,
) -> Appointment:
    """Move an appointment to a free slot with the same clinician; calendars get SEQUENCE+1."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_schedule(appointment.clinician)
        appointment = _lock(appointment)
        _check_may_change(appointment, by_client=by_client, now=now)
        if starts_at == appointment.starts_at:
            return appointment
        _slot_check(
            service=appointment.service,
            clinician=appointment.clinician,
            starts_at=starts_at,
            now=now,
            exclude_appointment_id=appointment.pk,
        )
        previous_starts_at = appointment.starts_at
        for name, value in appointment.service.appointment_times(starts_at).items():
            setattr(appointment, name, value)
        appointment.sequence += 1
        try:
            with transaction.atomic():
                appointment.save()
        except IntegrityError as error:
            if _is_overlap_violation(error):
                raise SlotUnavailable(TAKEN) from error
            raise
        audit_record(
            actor=actor,
            action=AuditAction.UPDATED,
            object_type="appointment",
            object_uuid=appointment.uuid,
            client=appointment.client,
            context=context,
            changes=["starts_at", "ends_at"],
        )
        appointment_emails_queue(
            appointment,
            event=AppointmentEvent.RESCHEDULED,
            now=now,
            previous_starts_at=previous_starts_at,
        )
    return appointment


def appointment_cancel(
    *,
    appointment: Appointment,
    actor: User | None,
    by_client: bool,
    reason: str,
    context: RequestContext,
    now: dt.datetime | None = None,
) -> Appointment:
    """Cancel, freeing the slot; calendars get METHOD:CANCEL with SEQUENCE+1."""
    now = now or timezone.now()
    with transaction.atomic():
        appointment = _lock(appointment)
        _check_may_change(appointment, by_client=by_client, now=now)
        appointment.status = AppointmentStatus.CANCELLED
        appointment.cancelled_at = now
        appointment.cancelled_by = actor if actor is not None and actor.is_authenticated else None
        appointment.cancellation_reason = reason
        appointment.sequence += 1
        appointment.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATED,
            object_type="appointment",
            object_uuid=appointment.uuid,
            client=appointment.client,
            context=context,
            changes=["status"],
        )
        appointment_emails_queue(appointment, event=AppointmentEvent.CANCELLED, now=now)
    return appointment
