"""Reads that compose clinic, sessions and assessments data for the dashboards.

Every page's reads run a fixed number of queries, whatever the number of clients,
appointments or results (asserted in tests/dashboard/test_dashboard_pages.py).
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field, replace
from uuid import UUID

from django.db.models import Count, F, FilteredRelation, Max, Min, Prefetch, Q, QuerySet
from django.http import Http404

from assessments.models import (
    Assessment,
    AssessmentStatus,
    Plan,
    PlanItem,
    PlanPhase,
    PlanStatus,
    Reminder,
    ReminderStatus,
    ResultValue,
)
from assessments.programs.services import WeekAdherence, plan_adherence, plan_phase_on
from assessments.selectors import client_programs, plan_waiting_for_client
from clinic.models import Client, Clinician, ClinicianNote, Consent, Intake, Role, User
from dashboard.charts import CHARTED_FIELDS, Reading
from sessions.booking.selectors import (
    LONGEST_BLOCKED_RANGE,
    appointments_visible_to,
    client_get_for_viewer,
    clients_visible_to,
)
from sessions.booking.slots import local_to_utc
from sessions.models import Appointment, AppointmentStatus, RoomEvent
from sessions.room.services import FINISHED

# Clients without a next (or last) appointment come after those with one.
CLIENT_SORTS = {
    "name": ("user__full_name", "pk"),
    "next": (F("next_at").asc(nulls_last=True), "user__full_name", "pk"),
    "last": (F("last_at").desc(nulls_last=True), "user__full_name", "pk"),
}
RECENT_REMINDERS = 20


@dataclass(frozen=True)
class ClientRecord:
    client: Client
    intakes: list[Intake]
    consents: list[Consent]
    appointments: list[Appointment]
    notes: list[ClinicianNote]
    assessments: list[Assessment] = field(default_factory=list)
    # The program the client follows, whether it has started on their calendar, and a newer
    # plan waiting for the clinician's approval.
    plan: Plan | None = None
    plan_started: bool = False
    plan_waiting: Plan | None = None
    plan_phase: PlanPhase | None = None
    adherence: list[WeekAdherence] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    # Completed assessments' values for the progress charts.
    readings: list[Reading] = field(default_factory=list)

    @property
    def latest_intake(self) -> Intake | None:
        return self.intakes[0] if self.intakes else None

    @property
    def latest_assessment(self) -> Assessment | None:
        completed = [a for a in self.assessments if a.status == AssessmentStatus.COMPLETED]
        return completed[0] if completed else None


def appointment_is_upcoming(appointment: Appointment, *, now: dt.datetime) -> bool:
    """Still to come or going on for the client: not over as planned, and not finished early
    (ended for both, cancelled, missed)."""
    return appointment.ends_at > now and appointment.status not in FINISHED


def client_appointments(client: Client) -> QuerySet[Appointment]:
    """A client's appointments with every clinician, newest first."""
    return (
        Appointment.objects.filter(client=client)
        .select_related("service", "clinician__user")
        .order_by("-starts_at")
    )


def client_record(
    client: Client, *, with_notes: bool, appointments: QuerySet[Appointment] | None = None
) -> ClientRecord:
    """A client's record for their own page (``with_notes=False``) or a clinician's;
    ``appointments`` (default: client_appointments) lets a page annotate them."""
    if appointments is None:
        appointments = client_appointments(client)
    return ClientRecord(
        client=client,
        intakes=list(client.intakes.order_by("-submitted_at")),
        consents=list(client.consents.select_related("document", "accepted_by")),
        appointments=list(appointments),
        notes=list(client.notes.select_related("author")) if with_notes else [],
    )


def client_record_for_clinician(client: Client, *, now: dt.datetime) -> ClientRecord:
    """Everything on a client's page for clinicians, in a fixed number of queries."""
    # Each row counts its room events; the events themselves are read when a row is opened
    # (session_room_events), so a long history does not load every session's events.
    record = client_record(
        client,
        with_notes=True,
        appointments=client_appointments(client).annotate(room_event_count=Count("room_events")),
    )
    assessments = list(
        Assessment.objects.filter(client=client)
        .select_related("clinician__user", "appointment")
        .prefetch_related("findings")
        .order_by("-created_at")
    )
    # The program the client follows, as their own program page shows it; a plan of a later
    # assessment is shown beside it while it waits for approval.
    plan = (
        client_programs(client)
        .select_related("clinician__user", "client__user")
        .prefetch_related(
            Prefetch("phases", queryset=PlanPhase.objects.order_by("number")),
            Prefetch("phases__items", queryset=PlanItem.objects.select_related("exercise")),
        )
        .first()
    )
    phase = adherence = None
    started = False
    if plan is not None:
        today = now.astimezone(zoneinfo.ZoneInfo(client.time_zone)).date()
        phase = plan_phase_on(plan, today)
        adherence = plan_adherence(plan, today=today)
        started = today >= plan.starts_on
    reminders = list(
        Reminder.objects.filter(
            client=client, status__in=[ReminderStatus.SENT, ReminderStatus.FAILED]
        ).order_by("-due_at")[:RECENT_REMINDERS]
    )
    # Only the columns and fields the charts draw: no model objects for each value.
    readings = [
        Reading(*row)
        for row in ResultValue.objects.filter(
            assessment__client=client,
            assessment__status=AssessmentStatus.COMPLETED,
            field__in=CHARTED_FIELDS,
        ).values_list(*Reading._fields)
    ]
    return replace(
        record,
        assessments=assessments,
        plan=plan,
        plan_started=started,
        plan_waiting=plan_waiting_for_client(client),
        plan_phase=phase,
        adherence=adherence or [],
        reminders=reminders,
        readings=readings,
    )


@dataclass(frozen=True)
class SessionRoomEvents:
    client: Client
    appointment: Appointment
    events: list[RoomEvent]


def session_room_events(
    *, viewer: User, client_uuid: UUID, appointment_uuid: UUID
) -> SessionRoomEvents:
    """What happened in the room of one of a client's sessions, for whoever may see the client
    (404 otherwise, and for a session of another client)."""
    client = client_get_for_viewer(viewer=viewer, client_uuid=client_uuid)
    appointment = (
        Appointment.objects.filter(client=client, uuid=appointment_uuid)
        .select_related("service", "clinician__user")
        .first()
    )
    if appointment is None:
        raise Http404("No such session")
    return SessionRoomEvents(
        client=client,
        appointment=appointment,
        events=list(appointment.room_events.order_by("at", "id")),
    )


def clients_search(*, viewer: User, query: str, sort: str = "name", now: dt.datetime | None = None):
    """Clients the viewer sees, matching ``query`` by name or email, with their next and last
    appointment (with this clinician; any clinician for an admin)."""
    now = now or dt.datetime.now(dt.UTC)
    clients = clients_visible_to(viewer)
    query = query.strip()
    if query:
        clients = clients.filter(
            Q(user__full_name__icontains=query) | Q(user__email__icontains=query)
        )
    # Join only the appointments that count (the viewer's, not cancelled), so that a
    # clinician's list does not scan every other clinician's appointments.
    live = ~Q(appointments__status=AppointmentStatus.CANCELLED)
    if viewer.role != Role.ADMIN:
        clinician = Clinician.objects.filter(user=viewer).values_list("pk", flat=True).first()
        live &= Q(appointments__clinician=clinician)
    clients = clients.annotate(
        counted=FilteredRelation("appointments", condition=live),
        next_at=Min("counted__starts_at", filter=Q(counted__starts_at__gt=now)),
        last_at=Max("counted__starts_at", filter=Q(counted__starts_at__lte=now)),
    )
    return clients.order_by(*CLIENT_SORTS.get(sort, CLIENT_SORTS["name"]))


@dataclass(frozen=True)
class Overview:
    """The clinician's home: today, the coming week, and what went wrong lately."""

    zone: zoneinfo.ZoneInfo
    today: dt.date
    today_sessions: list[Appointment]
    week_sessions: list[Appointment]
    missed: list[Appointment]
    plans_waiting: int


def clinician_overview(*, viewer: User, now: dt.datetime, zone: zoneinfo.ZoneInfo) -> Overview:
    """Today and the next six days on the viewer's clock; no-shows and cancellations of the
    past week and the coming one."""
    today = now.astimezone(zone).date()
    day_starts = local_to_utc(today, dt.time(0), zone)
    tomorrow = local_to_utc(today + dt.timedelta(days=1), dt.time(0), zone)
    week_ends = local_to_utc(today + dt.timedelta(days=7), dt.time(0), zone)
    week_ago = local_to_utc(today - dt.timedelta(days=7), dt.time(0), zone)
    appointments = list(
        appointments_visible_to(viewer)
        .filter(
            starts_at__gte=week_ago,
            starts_at__lt=week_ends,
            # Bounds on blocked_from let PostgreSQL use the (clinician, blocked_from) index
            # instead of reading the clinician's whole history.
            blocked_from__gte=week_ago - LONGEST_BLOCKED_RANGE,
            blocked_from__lt=week_ends,
        )
        .order_by("starts_at")
    )
    missed_statuses = {AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED}
    return Overview(
        zone=zone,
        today=today,
        today_sessions=[
            a
            for a in appointments
            if day_starts <= a.starts_at < tomorrow and a.status != AppointmentStatus.CANCELLED
        ],
        week_sessions=[
            a
            for a in appointments
            if tomorrow <= a.starts_at < week_ends and a.status != AppointmentStatus.CANCELLED
        ],
        missed=[a for a in appointments if a.status in missed_statuses],
        plans_waiting=plans_waiting_for(viewer).count(),
    )


def plans_waiting_for(viewer: User) -> QuerySet[Plan]:
    """Draft plans the viewer should approve (an admin sees every clinician's)."""
    plans = Plan.objects.filter(status=PlanStatus.DRAFT).select_related(
        "client__user", "clinician__user", "assessment"
    )
    if viewer.role != Role.ADMIN:
        plans = plans.filter(clinician__user=viewer)
    return plans.annotate(findings_count=Count("assessment__findings", distinct=True)).order_by(
        "generated_at", "pk"
    )
