"""Reads that compose clinic and sessions data for the dashboards."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from clinic.models import Client, ClinicianNote, Consent, Intake, Role, User
from sessions.models import Appointment
from sessions.selectors import appointments_visible_to, clients_visible_to


@dataclass(frozen=True)
class ClientRecord:
    client: Client
    intakes: list[Intake]
    consents: list[Consent]
    appointments: list[Appointment]
    notes: list[ClinicianNote]

    @property
    def latest_intake(self) -> Intake | None:
        return self.intakes[0] if self.intakes else None


def client_record(client: Client, *, with_notes: bool) -> ClientRecord:
    """Everything on a client's record page, in a fixed number of queries."""
    return ClientRecord(
        client=client,
        intakes=list(client.intakes.order_by("-submitted_at")),
        consents=list(client.consents.select_related("document", "accepted_by")),
        appointments=list(
            Appointment.objects.filter(client=client)
            .select_related("service", "clinician__user")
            .order_by("-starts_at")
        ),
        notes=list(client.notes.select_related("author")) if with_notes else [],
    )


def clients_search(*, viewer: User, query: str) -> QuerySet[Client]:
    clients = clients_visible_to(viewer)
    query = query.strip()
    if query:
        clients = clients.filter(
            Q(user__full_name__icontains=query) | Q(user__email__icontains=query)
        )
    return clients.order_by("user__full_name", "pk")


def upcoming_appointments(
    *, viewer: User, now: dt.datetime, days: int = 14
) -> QuerySet[Appointment]:
    appointments = appointments_visible_to(viewer).filter(
        ends_at__gt=now, starts_at__lt=now + dt.timedelta(days=days)
    )
    return appointments.order_by("starts_at")


def client_for_user(user: User) -> Client:
    return (
        Client.objects.select_related("user")
        .prefetch_related(Prefetch("intakes", queryset=Intake.objects.order_by("-submitted_at")))
        .get(user=user, user__role=Role.CLIENT)
    )
