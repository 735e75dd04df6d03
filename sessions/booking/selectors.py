"""Reads for booking and access: who may see which client and appointment, which slots are free."""

import datetime as dt
import enum
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import Http404

from clinic.models import Client, Clinician, ConsentDocument, ConsentKind, Role, User
from clinic.services import consent_document_current
from sessions.booking.slots import (
    ClinicianCalendar,
    Interval,
    Slot,
    SlotRules,
    WeeklyPeriod,
    free_slots,
    on_schedule,
    slots_for_any,
)
from sessions.models import (
    MAX_BUFFER_MINUTES,
    MAX_DURATION_MINUTES,
    Appointment,
    AppointmentStatus,
    ExtraHours,
    Service,
    TimeOff,
    WeeklyHours,
)

# A session with both buffers at their maximum (see the Service model's limits).
LONGEST_BLOCKED_RANGE = dt.timedelta(minutes=MAX_DURATION_MINUTES + 2 * MAX_BUFFER_MINUTES)

# --- Access ---------------------------------------------------------------------------------


def clients_visible_to(viewer: User) -> QuerySet[Client]:
    """A clinician sees the clients who booked with them; an admin sees everyone."""
    clients = Client.objects.select_related("user")
    if viewer.role == Role.ADMIN:
        return clients
    if viewer.role == Role.CLINICIAN:
        return clients.filter(
            pk__in=Appointment.objects.filter(clinician__user=viewer).values("client_id")
        )
    return clients.filter(user=viewer)


def client_get_for_viewer(*, viewer: User, client_uuid: UUID) -> Client:
    client = clients_visible_to(viewer).filter(uuid=client_uuid).first()
    if client is None:
        raise Http404("No such client")
    return client


def appointments_visible_to(viewer: User) -> QuerySet[Appointment]:
    appointments = Appointment.objects.select_related("service", "clinician__user", "client__user")
    if viewer.role == Role.ADMIN:
        return appointments
    if viewer.role == Role.CLINICIAN:
        return appointments.filter(clinician__user=viewer)
    return appointments.filter(client__user=viewer)


def appointment_get_for_viewer(*, viewer: User, appointment_uuid: UUID) -> Appointment:
    appointment = appointments_visible_to(viewer).filter(uuid=appointment_uuid).first()
    if appointment is None:
        raise Http404("No such appointment")
    return appointment


# --- Booking --------------------------------------------------------------------------------


def services_bookable() -> QuerySet[Service]:
    return Service.objects.filter(is_active=True, clinicians__is_bookable=True).distinct()


def service_get_bookable(service_uuid: UUID) -> Service:
    """A service a visitor may book (active, with a bookable clinician); 404 otherwise."""
    service = services_bookable().filter(uuid=service_uuid).first()
    if service is None:
        raise Http404("No such service")
    return service


def clinicians_for_service(service: Service) -> list[Clinician]:
    return list(
        service.clinicians.filter(is_bookable=True, user__is_active=True)
        .select_related("user")
        .order_by("user__full_name")
    )


def service_rules(service: Service) -> SlotRules:
    return SlotRules(
        duration=dt.timedelta(minutes=service.duration_minutes),
        buffer_before=dt.timedelta(minutes=service.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=service.buffer_after_minutes),
        step=dt.timedelta(minutes=service.slot_interval_minutes),
        minimum_notice=dt.timedelta(minutes=service.minimum_notice_minutes),
        horizon=dt.timedelta(days=service.booking_horizon_days),
    )


def days_window(first_day: dt.date, last_day: dt.date, zone: zoneinfo.ZoneInfo) -> Interval:
    """From the start of ``first_day`` to the end of ``last_day`` on the viewer's clock."""
    return Interval(
        dt.datetime.combine(first_day, dt.time(), tzinfo=zone).astimezone(dt.UTC),
        dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(
            dt.UTC
        ),
    )


def clinician_calendars(
    *,
    clinicians: Sequence[Clinician],
    window: Interval,
    margin: dt.timedelta,
    exclude_appointment_id: int | None = None,
) -> list[ClinicianCalendar]:
    """Everything that decides the clinicians' free time in ``window``, in four queries."""
    ids = [clinician.pk for clinician in clinicians]
    reach = Interval(window.start - margin, window.end + margin)

    weekly: dict[int, list[WeeklyPeriod]] = defaultdict(list)
    for clinician_id, weekday, starts_at, ends_at in WeeklyHours.objects.filter(
        clinician_id__in=ids
    ).values_list("clinician_id", "weekday", "starts_at", "ends_at"):
        weekly[clinician_id].append(WeeklyPeriod(weekday, starts_at, ends_at))

    def intervals(queryset: QuerySet) -> dict[int, list[Interval]]:
        found: dict[int, list[Interval]] = defaultdict(list)
        for clinician_id, start, end in queryset.values_list(
            "clinician_id", "starts_at", "ends_at"
        ):
            found[clinician_id].append(Interval(start, end))
        return found

    overlapping = Q(clinician_id__in=ids, starts_at__lt=reach.end, ends_at__gt=reach.start)
    extra = intervals(ExtraHours.objects.filter(overlapping))
    time_off = intervals(TimeOff.objects.filter(overlapping))

    booked: dict[int, list[Interval]] = defaultdict(list)
    live = Appointment.objects.filter(
        clinician_id__in=ids,
        blocked_from__lt=reach.end,
        blocked_until__gt=reach.start,
        # Implied by the line above, but it bounds the index range scan on blocked_from so
        # that a clinician's years of past appointments are not read.
        blocked_from__gt=reach.start - LONGEST_BLOCKED_RANGE,
    ).exclude(status=AppointmentStatus.CANCELLED)
    if exclude_appointment_id is not None:
        live = live.exclude(pk=exclude_appointment_id)
    for clinician_id, start, end in live.values_list(
        "clinician_id", "blocked_from", "blocked_until"
    ):
        booked[clinician_id].append(Interval(start, end))

    return [
        ClinicianCalendar(
            clinician_id=clinician.pk,
            time_zone=clinician.user.time_zone,
            weekly=weekly[clinician.pk],
            extra=extra[clinician.pk],
            time_off=time_off[clinician.pk],
            booked=booked[clinician.pk],
        )
        for clinician in clinicians
    ]


def slots_available(
    *,
    service: Service,
    clinicians: Sequence[Clinician],
    window: Interval,
    now: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> list[Slot]:
    """Free start times in ``window``; with several clinicians, one slot per start time.

    The number of queries is fixed: it does not grow with appointments, days or clinicians.
    """
    rules = service_rules(service)
    margin = rules.duration + rules.buffer_before + rules.buffer_after
    calendars = clinician_calendars(
        clinicians=clinicians,
        window=window,
        margin=margin,
        exclude_appointment_id=exclude_appointment_id,
    )
    by_clinician = {
        calendar.clinician_id: list(free_slots(calendar, rules, window, now=now))
        for calendar in calendars
    }
    if len(clinicians) == 1:
        return by_clinician[clinicians[0].pk]
    # For "any clinician", spread the load: whoever has the fewest bookings in view goes first.
    load = {calendar.clinician_id: len(calendar.booked) for calendar in calendars}
    preference = sorted(load, key=lambda clinician_id: (load[clinician_id], clinician_id))
    return slots_for_any(by_clinician, preference)


class SlotState(enum.Enum):
    FREE = "free"
    # One of the clinician's start times, but booked, inside time off or too soon by now.
    TAKEN = "taken"
    # Never one of the clinician's start times: off the service's grid or outside working hours.
    NOT_OFFERED = "not_offered"


def slot_state(
    *,
    service: Service,
    clinician: Clinician,
    starts_at: dt.datetime,
    now: dt.datetime,
    exclude_appointment_id: int | None = None,
) -> SlotState:
    """Whether ``starts_at`` can be booked with ``clinician`` now, and if not, whether it ever
    could have been (four queries, as for a list of slots)."""
    rules = service_rules(service)
    window = Interval(starts_at - dt.timedelta(days=1), starts_at + dt.timedelta(days=1))
    [calendar] = clinician_calendars(
        clinicians=[clinician],
        window=window,
        margin=rules.duration + rules.buffer_before + rules.buffer_after,
        exclude_appointment_id=exclude_appointment_id,
    )
    if any(slot.starts_at == starts_at for slot in free_slots(calendar, rules, window, now=now)):
        return SlotState.FREE
    return SlotState.TAKEN if on_schedule(calendar, rules, starts_at) else SlotState.NOT_OFFERED


def slots_by_day(
    slots: Sequence[Slot], days: Sequence[dt.date], zone: zoneinfo.ZoneInfo
) -> list[tuple[dt.date, list[Slot]]]:
    """Slots grouped under the viewer's local dates, every day present even when empty."""
    grouped: dict[dt.date, list[Slot]] = {day: [] for day in days}
    for slot in slots:
        day = slot.starts_at.astimezone(zone).date()
        if day in grouped:
            grouped[day].append(slot)
    return list(grouped.items())


@dataclass(frozen=True)
class BookingConsents:
    """The consent texts a booking is made under: the published ones, newest first."""

    telehealth: ConsentDocument | None
    images: ConsentDocument | None

    @property
    def booking_paused(self) -> bool:
        """Online booking needs a published telehealth consent to be accepted."""
        return self.telehealth is None

    def accepted(self, *, images: bool) -> tuple[ConsentDocument, ...]:
        """What a client accepts by booking: the telehealth consent, and the images one if
        they ticked it (and one is published)."""
        if self.telehealth is None:
            raise ValueError("Booking is paused: no telehealth consent is published.")
        if images and self.images is not None:
            return (self.telehealth, self.images)
        return (self.telehealth,)


def booking_consents() -> BookingConsents:
    return BookingConsents(
        telehealth=consent_document_current(ConsentKind.TELEHEALTH),
        images=consent_document_current(ConsentKind.IMAGES),
    )


def appointment_by_uuid(appointment_uuid: UUID) -> Appointment | None:
    """An appointment with its people and service, for one whose access is already decided (an
    emailed link's signature, the room's participant check)."""
    return (
        Appointment.objects.select_related("service", "clinician__user", "client__user")
        .filter(uuid=appointment_uuid)
        .first()
    )


def appointment_get_just_booked(*, booked: Sequence[str], appointment_uuid: UUID) -> Appointment:
    """The booking confirmation: only the browser that just booked sees it (the UUIDs it booked
    are in its session); anyone else gets 404 and signs in to see their appointments."""
    if str(appointment_uuid) not in booked:
        raise Http404("No such booking")
    appointment = (
        Appointment.objects.select_related("service", "clinician__user", "client__user", "intake")
        .filter(uuid=appointment_uuid)
        .first()
    )
    if appointment is None:
        raise Http404("No such booking")
    return appointment
