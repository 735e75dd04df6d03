"""Every page and form of the site (from the URL resolver, so new ones are covered) gets hostile
values from every kind of visitor: never a server error, never another client's data, and a
refused write changes nothing. How: tests/page_fuzz.py. ``bench/fuzz_pages.py`` runs this test
with more rounds and prints its figures (``PAGE_FUZZ_ROUNDS``, ``PAGE_FUZZ_REPORT``)."""

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from assessments.models import Plan, PlanItem
from clinic.models import Client, Clinician, ClinicianNote, User
from sessions.models import Appointment, Service, TimeOff
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan
from tests.page_fuzz import Fuzzer, Report, Visitor

pytestmark = pytest.mark.django_db

# Rounds of rotated hostile values per page; the suite's default gives each form field 4 of the
# values, spread over the fields so that every value is sent.
ROUNDS = int(os.environ.get("PAGE_FUZZ_ROUNDS", "4"))
ROLES = ["stranger", "client", "other client", "clinician", "other clinician", "admin"]


def objects_of(client: Client, clinician: Clinician, appointment: Appointment, plan: Plan):
    """UUIDs by URL parameter name: one client's record and their clinician's schedule."""
    item = PlanItem.objects.filter(phase__plan=plan).first()
    time_off = TimeOff.objects.create(
        clinician=clinician,
        starts_at=timezone.now() + dt.timedelta(days=20),
        ends_at=timezone.now() + dt.timedelta(days=21),
        note=f"Off ({clinician.user.full_name})",
    )
    ClinicianNote.objects.create(
        client=client, author=clinician.user, body=f"Private note on {client.user.full_name}"
    )
    return {
        "client_uuid": [str(client.uuid)],
        "appointment_uuid": [str(appointment.uuid)],
        "assessment_uuid": [str(plan.assessment.uuid)],
        "plan_uuid": [str(plan.uuid)],
        "item_uuid": [str(item.uuid), str(time_off.uuid)],
        "service_uuid": [str(appointment.service.uuid)],
    }


def secrets_of(client: Client) -> tuple[str, ...]:
    return (client.user.full_name, client.user.email)


@pytest.fixture
def visitors(
    library,
    consent_documents,
    service: Service,
    clinician: Clinician,
    other_clinician: Clinician,
    client_record: Client,
    other_client_record: Client,
    appointment: Appointment,
    other_appointment: Appointment,
    admin_user: User,
) -> dict[str, Visitor]:
    """Ana (Maya's client) and Ben (Sam's), each with an appointment, a completed assessment and
    its plan, a private note, and their clinician's time off."""
    anas = objects_of(
        client_record,
        clinician,
        appointment,
        make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS),
    )
    bens = objects_of(
        other_client_record,
        other_clinician,
        other_appointment,
        make_plan(client=other_client_record, clinician=other_clinician, values=ANKLE_AND_VALGUS),
    )

    def visitor(role: str, user: User | None, must_not_see, own, others) -> Visitor:
        http = HttpClient(raise_request_exception=False)
        if user is None:
            return Visitor(role, http, must_not_see, own, others)
        http.force_login(user)
        return Visitor(role, http, must_not_see, own, others, lambda: http.force_login(user))

    ana, ben = secrets_of(client_record), secrets_of(other_client_record)
    # A clinician sees their own clients only; the admin sees everyone.
    return {
        visitor.role: visitor
        for visitor in [
            visitor("stranger", None, ana + ben, {}, bens),
            visitor("client", client_record.user, ben, anas, bens),
            visitor("other client", other_client_record.user, ana, bens, anas),
            visitor("clinician", clinician.user, ben, anas, bens),
            visitor("other clinician", other_clinician.user, ana, bens, anas),
            visitor("admin", admin_user, (), bens, anas),
        ]
    }


def record_figures(role: str, report: Report) -> None:
    """For bench/fuzz_pages.py: this role's figures, added to the file it names."""
    path = os.environ.get("PAGE_FUZZ_REPORT")
    if not path:
        return
    figures = {
        "role": role,
        "rounds": ROUNDS,
        "requests": report.requests,
        "statuses": {str(status): count for status, count in sorted(report.statuses.items())},
        "server_errors": report.server_errors,
        "refused_writes": report.refused_writes,
        "problems": [str(problem) for problem in report.problems],
    }
    with Path(path).open("a") as file:
        file.write(json.dumps(figures) + "\n")


@pytest.mark.parametrize("role", ROLES)
def test_hostile_values_on_every_page_and_form(visitors: dict[str, Visitor], role: str) -> None:
    fuzzer = Fuzzer(rounds=ROUNDS)

    report = fuzzer.run([visitors[role]])

    record_figures(role, report)
    assert len(fuzzer.pages) > 100  # the admin's pages included
    assert report.requests > len(fuzzer.pages) * 4
    assert not report.problems, "\n".join(str(problem) for problem in report.problems[:40])
