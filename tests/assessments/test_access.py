"""Who may open or change what: every URL of the assessments app that shows or changes a
client's data, tried by the personas who must not (a stranger who is signed out, another
clinician, another client, and the client herself where the page is the clinician's). Each gets
a refusal (403 or 404, or the sign-in page for the stranger), never the data, and the database is
exactly as it was. Then the person the page is for does the same, which must work: a refusal
for a mistyped URL would otherwise pass for access control.

Ana Silva is Maya Okafor's client; Ben Carter is Sam Rivera's.
"""

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.shortcuts import resolve_url
from django.test import Client as HttpClient
from django.urls import get_resolver, reverse
from django.utils import timezone

from assessments.models import (
    Addendum,
    Assessment,
    Finding,
    PainLog,
    Plan,
    PlanItem,
    PlanPhase,
    PracticeLog,
    Reminder,
    ReminderPreference,
    ResultValue,
    Snapshot,
)
from assessments.programs.links import (
    DONE_SALT,
    PAIN_SALT,
    REMINDERS_SALT,
    done_url,
    pain_url,
    reminders_url,
    unsubscribe_url,
)
from assessments.services import (
    assessment_start_for_appointment,
    snapshot_add,
)
from clinic.audit import SYSTEM
from clinic.models import AuditEvent, Client, Clinician
from sessions.models import Appointment
from tests import factories
from tests.assessments.conftest import ANKLE_AND_VALGUS, images_consent, jpeg, make_plan, record

pytestmark = pytest.mark.django_db
SECRET_NOTE = "Private to Ana: ease into the lunges"


@dataclass
class World:
    ana: Client
    maya: Clinician
    live: Assessment  # Ana's video assessment in progress, with a snapshot
    snapshot: Snapshot
    done: Assessment  # completed, with the approved program
    program: Plan
    draft: Plan  # the plan of a later assessment, waiting for Maya


@pytest.fixture
def world(
    client_record,
    clinician,
    other_appointment,
    library,
    settings,
    tmp_path,
) -> World:
    settings.MEDIA_ROOT = tmp_path
    now = timezone.now()
    program = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        now=now - dt.timedelta(days=4),
        approve_at=now - dt.timedelta(days=3),
    )
    draft = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        now=now - dt.timedelta(hours=1),
    )
    Plan.objects.filter(pk=draft.pk).update(note=SECRET_NOTE)
    session = factories.make_appointment(
        service=other_appointment.service,
        clinician=clinician,
        client=client_record,
        starts_at=now.replace(microsecond=0) + dt.timedelta(minutes=5),
    )
    live = assessment_start_for_appointment(
        appointment=session, actor=clinician.user, context=SYSTEM, now=now
    )
    images_consent(client_record)
    record(live, clinician.user, {"knee_to_wall.left.1.ktw_cm": 11}, now=now)
    snapshot = snapshot_add(
        assessment=live,
        actor=clinician.user,
        protocol="lunge",
        side="left",
        trial=1,
        data=jpeg(),
        context=SYSTEM,
        now=now,
    )
    return World(
        ana=client_record,
        maya=clinician,
        live=live,
        snapshot=snapshot,
        done=program.assessment,
        program=program,
        draft=draft,
    )


def client_today(world: World) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(world.ana.time_zone)).date()


def first_item(plan: Plan) -> PlanItem:
    return plan.phases.get(number=1).items.order_by("position", "id").first()


@dataclass(frozen=True)
class Case:
    """One URL: how to call it, whose page it is, and what its owner's success looks like."""

    name: str  # the URL's name in assessments/urls.py
    label: str  # the test's id
    method: str
    url: Callable[[World], str]
    data: Callable[[World], dict] = lambda world: {}
    # "clinician": Maya's page (clients are refused too); "client": Ana's own page;
    # "signed_in": any signed-in person may ask, and only the right one is shown it;
    # "token": opened from an email, where the signed link is the key.
    audience: str = "clinician"
    owner_status: tuple[int, ...] = (200, 302)
    # What the owner's GET shows (Ana's name unless given).
    owner_sees: Callable[[World], str] | None = None
    # False for a POST that is idempotent here (starting an assessment already started).
    owner_changes: bool = True


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


CASES = [
    Case(
        "start_for_appointment",
        "start_for_appointment",
        "post",
        lambda w: reverse("assessments:start_for_appointment", args=[w.live.appointment.uuid]),
        owner_changes=False,
    ),
    Case(
        "panel_for_appointment",
        "panel_for_appointment",
        "get",
        lambda w: reverse("assessments:panel_for_appointment", args=[w.live.appointment.uuid]),
    ),
    Case(
        "start_in_person",
        "start_in_person",
        "post",
        lambda w: reverse("assessments:start_in_person", args=[w.ana.uuid]),
    ),
    Case(
        "detail",
        "results",
        "get",
        lambda w: reverse("assessments:detail", args=[w.done.uuid]),
        audience="signed_in",
    ),
    # Ana sees her results once completed, not the assessment while it is recorded.
    Case(
        "detail",
        "detail-in-progress",
        "get",
        lambda w: reverse("assessments:detail", args=[w.live.uuid]),
    ),
    Case(
        "step_save",
        "step_save",
        "post",
        lambda w: reverse("assessments:step_save", args=[w.live.uuid, "lunge"]),
        lambda w: {"lunge.left.1.knee_position": "over_big_toe"},
    ),
    Case(
        "snapshot_upload",
        "snapshot_upload",
        "post",
        lambda w: reverse("assessments:snapshot_upload", args=[w.live.uuid]),
        lambda w: {
            "protocol": "lunge",
            "image": SimpleUploadedFile("still.jpg", jpeg(), content_type="image/jpeg"),
        },
        owner_status=(201,),
    ),
    Case(
        "snapshot_image",
        "snapshot_image",
        "get",
        lambda w: reverse("assessments:snapshot_image", args=[w.live.uuid, w.snapshot.uuid]),
    ),
    Case(
        "complete",
        "complete",
        "post",
        lambda w: reverse("assessments:complete", args=[w.live.uuid]),
    ),
    Case(
        "addendum",
        "addendum",
        "post",
        lambda w: reverse("assessments:addendum", args=[w.done.uuid]),
        lambda w: {"body": "Knee-to-wall re-measured barefoot."},
    ),
    Case("plan", "plan", "get", lambda w: reverse("assessments:plan", args=[w.draft.uuid])),
    Case(
        "plan_note",
        "plan_note",
        "post",
        lambda w: reverse("assessments:plan_note", args=[w.draft.uuid]),
        lambda w: {"note": "Changed by someone else"},
    ),
    Case(
        "plan_approve",
        "plan_approve (confirmation)",
        "get",
        lambda w: reverse("assessments:plan_approve", args=[w.draft.uuid]),
    ),
    Case(
        "plan_approve",
        "plan_approve",
        "post",
        lambda w: reverse("assessments:plan_approve", args=[w.draft.uuid]),
    ),
    Case(
        "item_move",
        "item_move",
        "post",
        lambda w: reverse("assessments:item_move", args=[w.draft.uuid, first_item(w.draft).uuid]),
        lambda w: {"direction": "down"},
    ),
    Case(
        "item_swap",
        "item_swap",
        "post",
        lambda w: reverse("assessments:item_swap", args=[w.draft.uuid, first_item(w.draft).uuid]),
        lambda w: {
            "exercise": str(
                type(first_item(w.draft).exercise)
                .objects.filter(phase="restore")
                .exclude(pk__in=PlanItem.objects.filter(phase__plan=w.draft).values("exercise_id"))
                .first()
                .uuid
            )
        },
    ),
    Case(
        "item_dose",
        "item_dose",
        "post",
        lambda w: reverse("assessments:item_dose", args=[w.draft.uuid, first_item(w.draft).uuid]),
        lambda w: {"sets": "4", "amount": "20"},
    ),
    Case(
        "item_remove",
        "item_remove",
        "post",
        lambda w: reverse("assessments:item_remove", args=[w.draft.uuid, first_item(w.draft).uuid]),
    ),
    Case(
        "program",
        "program",
        "get",
        lambda w: reverse("assessments:program"),
        audience="client",
        owner_sees=lambda w: f"Mark done: {first_item(w.program).exercise.name}",
    ),
    Case(
        "program_done",
        "program_done",
        "post",
        lambda w: reverse("assessments:program_done", args=[w.program.uuid]),
        lambda w: {"item": str(first_item(w.program).uuid), "done": "1"},
        audience="client",
    ),
    Case(
        "program_pain",
        "program_pain",
        "post",
        lambda w: reverse("assessments:program_pain", args=[w.program.uuid]),
        lambda w: {"score": "6"},
        audience="client",
    ),
    Case(
        "done_link",
        "done_link",
        "post",
        lambda w: _path(
            done_url(
                plan_uuid=str(w.program.uuid),
                item_uuid=str(first_item(w.program).uuid),
                day=client_today(w),
            )
        ),
        audience="token",
    ),
    Case(
        "pain_link",
        "pain_link",
        "post",
        lambda w: _path(pain_url(plan_uuid=str(w.program.uuid), day=client_today(w), score=7)),
        audience="token",
    ),
    Case(
        "reminder_settings",
        "reminder_settings",
        "post",
        lambda w: _path(reminders_url(client_uuid=str(w.ana.uuid))),
        lambda w: {"action": "stop"},
        audience="token",
    ),
    Case(
        "unsubscribe",
        "unsubscribe",
        "post",
        lambda w: _path(unsubscribe_url(client_uuid=str(w.ana.uuid))),
        lambda w: {"List-Unsubscribe": "One-Click"},
        audience="token",
    ),
]
COVERED = {case.name for case in CASES}

# The salt each kind of link is signed with, and another kind's, for forgeries.
SALTS = {
    "done_link": DONE_SALT,
    "pain_link": PAIN_SALT,
    "reminder_settings": REMINDERS_SALT,
    "unsubscribe": REMINDERS_SALT,
}
OTHER_SALTS = {
    "done_link": PAIN_SALT,
    "pain_link": DONE_SALT,
    "reminder_settings": PAIN_SALT,
    "unsubscribe": DONE_SALT,
}


def forged_urls(case: Case, world: World) -> list[str]:
    """The payload of a genuine link of Ana's, signed with another key, and signed with the
    clinic's key for another purpose (a pain link's token used to tick an exercise off...)."""
    genuine = case.url(world)
    token = re.search(r"/(?:pain|done|reminders)/([^/]+)/", genuine)[1]
    payload = signing.loads(token, salt=SALTS[case.name])
    forgeries = [
        signing.dumps(payload, key="not-the-clinic-key", salt=SALTS[case.name]),
        signing.dumps(payload, salt=OTHER_SALTS[case.name]),
    ]
    return [genuine.replace(token, forged) for forged in forgeries]


MODELS = [
    Assessment,
    ResultValue,
    Finding,
    Addendum,
    Snapshot,
    Plan,
    PlanPhase,
    PlanItem,
    PracticeLog,
    PainLog,
    Reminder,
    ReminderPreference,
    AuditEvent,
    Appointment,
]


def database() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}


def call(http: HttpClient, case: Case, world: World, url: str | None = None):
    url = url or case.url(world)
    if case.method == "get":
        return http.get(url)
    return http.post(url, case.data(world))


def personas(case: Case, request) -> dict[str, HttpClient]:
    found = {
        "stranger": HttpClient(),
        "other clinician": request.getfixturevalue("as_other_clinician"),
        "other client": request.getfixturevalue("as_other_client"),
    }
    if case.audience == "clinician":
        found["the client herself"] = request.getfixturevalue("as_client")
    return found


def assert_no_data(response, world: World, who: str, case: Case) -> None:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    for secret in (world.ana.name, world.ana.email, str(world.ana.uuid), SECRET_NOTE):
        assert secret.encode() not in content, f"{who} saw {secret!r} on {case.name}"
    assert not content.startswith(b"\xff\xd8"), f"{who} got the snapshot from {case.name}"


def test_every_url_of_the_app_is_covered() -> None:
    names = {
        pattern.name
        for pattern in get_resolver().url_patterns
        if getattr(pattern, "namespace", None) == "assessments"
        for pattern in pattern.url_patterns
    }
    assert names == COVERED


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_nobody_else_sees_or_changes_anything(request, case: Case, world: World) -> None:
    login = resolve_url(settings.LOGIN_URL)
    for who, http in personas(case, request).items():
        before = database()
        urls = forged_urls(case, world) if case.audience == "token" else [case.url(world)]
        for url in urls:
            response = call(http, case, world, url)
            if case.audience == "token":
                assert response.status_code == 400, (who, case.name, response.status_code)
                assert b"This link is not valid" in response.content
            elif who == "stranger":
                assert response.status_code == 302, (who, case.name, response.status_code)
                assert response["Location"].startswith(login), (who, case.name)
            elif case.name == "program" and who == "other client":
                # Ben's own program page: his, not Ana's.
                assert response.status_code == 200
            else:
                assert response.status_code in (403, 404), (who, case.name, response.status_code)
            assert_no_data(response, world, who, case)
        assert database() == before, f"{who} changed the database through {case.name}"


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_the_person_the_page_is_for_gets_it(request, case: Case, world: World) -> None:
    """The control: the same request by Maya (or Ana, or with the genuine link) works."""
    owner = {
        "clinician": "as_clinician",
        "signed_in": "as_clinician",
        "client": "as_client",
        "token": "as_stranger",
    }[case.audience]
    http = request.getfixturevalue(owner)
    before = database()
    response = call(http, case, world)
    assert response.status_code in case.owner_status, (case.name, response.status_code)
    if case.method == "get":
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if case.name == "snapshot_image":
            assert content.startswith(b"\xff\xd8")
        else:
            expected = case.owner_sees(world) if case.owner_sees else world.ana.name
            assert expected.encode() in content, case.name
    elif case.owner_changes:
        assert database() != before, f"{case.name} changed nothing for its owner"
    else:
        assert response["Location"] == reverse("assessments:detail", args=[world.live.uuid])
