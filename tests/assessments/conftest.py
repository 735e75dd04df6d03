import datetime as dt
import io

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from PIL import Image

from assessments.models import Assessment, Plan
from assessments.programs.approval import plan_approve
from assessments.programs.services import plan_generate
from assessments.services import (
    assessment_complete,
    assessment_start_for_appointment,
    assessment_start_in_person,
    assessment_value_save,
)
from clinic.audit import SYSTEM
from clinic.models import Client, Clinician, ConsentDocument, ConsentKind, User
from clinic.services import consent_accept
from sessions.models import Appointment
from telehealth.asgi import application
from tests import factories


@pytest.fixture
def session_soon(service, clinician, client_record) -> Appointment:
    """Ana's video session with Maya, starting in five minutes: the room is open."""
    return factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )


@pytest.fixture
def assessment(session_soon: Appointment, clinician, library) -> Assessment:
    """Maya's guided assessment of Ana during that session."""
    return assessment_start_for_appointment(
        appointment=session_soon, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )


@pytest.fixture
def other_assessment(other_appointment, other_clinician) -> Assessment:
    """Sam's assessment of Ben: the "other" personas' own record."""
    return assessment_start_for_appointment(
        appointment=other_appointment,
        actor=other_clinician.user,
        context=SYSTEM,
        now=timezone.now(),
    )


async def open_panel(assessment: Assessment, session_key: str) -> WebsocketCommunicator:
    """A panel's socket on the assessment, through the full ASGI stack (session, Origin),
    connected; ``panel.state`` is the state frame it was sent."""
    panel = WebsocketCommunicator(
        application,
        f"/ws/assessments/{assessment.uuid}/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={session_key}".encode()),
        ],
    )
    assert (await panel.connect())[0]
    panel.state = await panel.receive_json_from(20)
    return panel


def record(
    assessment: Assessment,
    actor: User,
    values: dict[str, object],
    *,
    now: dt.datetime | None = None,
) -> None:
    """Save ``values`` ({"protocol.side.trial.field": raw}) into fields not recorded yet."""
    for key, value in values.items():
        assessment_value_save(
            assessment_id=assessment.pk,
            actor=actor,
            key=key,
            raw=value,
            base_version=0,
            context=SYSTEM,
            now=now or timezone.now(),
        )


def completed_assessment(
    *,
    client: Client,
    clinician: Clinician,
    values: dict[str, object],
    now: dt.datetime | None = None,
) -> Assessment:
    """An in-person assessment with these values, completed at ``now``. Its plan task is
    queued after the commit: it runs only in tests that commit (transactional ones)."""
    now = now or timezone.now()
    assessment = assessment_start_in_person(
        client=client, clinician=clinician, actor=clinician.user, context=SYSTEM, now=now
    )
    record(assessment, clinician.user, values, now=now)
    return assessment_complete(assessment=assessment, actor=clinician.user, context=SYSTEM, now=now)


def make_plan(
    *,
    client: Client,
    clinician: Clinician,
    values: dict[str, object],
    now: dt.datetime | None = None,
    approve_at: dt.datetime | None = None,
) -> Plan:
    """A completed in-person assessment with these values and its generated plan, approved at
    ``approve_at`` if given (the program then starts the next day on the client's calendar)."""
    now = now or timezone.now()
    assessment = completed_assessment(client=client, clinician=clinician, values=values, now=now)
    plan = plan_generate(assessment_id=assessment.pk, now=now)
    assert plan is not None
    if approve_at is not None:
        plan = plan_approve(plan=plan, actor=clinician.user, context=SYSTEM, now=approve_at)
    return plan


def answered_findings(plan: Plan) -> set[str]:
    """The identities of the findings the plan's items answer."""
    return {
        answer["identity"]
        for phase in plan.phases.all()
        for item in phase.items.all()
        for answer in item.answers
    }


def jpeg(width: int = 64, height: int = 48, image_format: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 80, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


def images_consent(client: Client) -> None:
    """The client consents to still images of their movement tests being kept."""
    document = ConsentDocument.objects.create(
        kind=ConsentKind.IMAGES, version="1", title="Images", body="We may keep stills."
    )
    consent_accept(
        client=client,
        document=document,
        accepted_by=client.user,
        signed_name=client.name,
        context=SYSTEM,
    )


ANKLE_AND_VALGUS = {
    "knee_to_wall.left.1.ktw_cm": 12,
    "knee_to_wall.right.1.ktw_cm": 8,
    "lunge.right.1.knee_position": "medial_to_big_toe",
}
