"""Autosave over the real socket (/ws/assessments/<uuid>/, full ASGI stack, Redis channel
layer): values are kept as they are entered, survive reconnects, and two windows editing the
same value notice each other instead of overwriting silently."""

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from assessments.models import Assessment, AssessmentStatus, Measurement, ResultValue
from assessments.services import assessment_complete
from clinic.audit import SYSTEM
from clinic.models import AuditEvent
from telehealth.asgi import application
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = "http://localhost"
db = database_sync_to_async


class Panel:
    """One browser window's assessment socket."""

    def __init__(self, assessment: Assessment, session_key: str | None) -> None:
        headers = [(b"origin", ORIGIN.encode()), (b"host", b"localhost")]
        if session_key:
            headers.append((b"cookie", f"sessionid={session_key}".encode()))
        self.communicator = WebsocketCommunicator(
            application, f"/ws/assessments/{assessment.uuid}/", headers=headers
        )

    async def open(self) -> dict[str, Any]:
        connected, _ = await self.communicator.connect()
        assert connected
        state = await self.frame()
        assert state["type"] == "state", state
        return state

    # Generous: other engineers' tests load the same two cores.
    async def frame(self, timeout: float = 10) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def frame_of(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await self.frame()
            if frame["type"] == kind:
                return frame
            assert frame["type"] in ("value", "step", "findings"), frame

    async def set(self, key: str, value: Any, base: int, edit: str = "e1") -> dict[str, Any]:
        await self.communicator.send_to(
            text_data=json.dumps(
                {"type": "set", "id": edit, "key": key, "value": value, "base": base}
            )
        )
        while True:
            frame = await self.frame()
            if frame["type"] in ("saved", "conflict", "refused") and frame["id"] == edit:
                return frame

    async def closed_with(self) -> int:
        while True:
            output = await self.communicator.receive_output(3)
            if output["type"] == "websocket.close":
                return output["code"]

    async def close(self) -> None:
        await self.communicator.disconnect()


def run(scenario) -> None:
    async_to_sync(scenario)()


def test_values_are_saved_as_entered_and_survive_a_reconnect(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        state = await panel.open()
        findings = state.pop("findings")
        assert state == {
            "type": "state",
            "status": "draft",
            # Starting opened the first test.
            "step": "aslr",
            "values": [],
            "measurements": [],
        }
        assert findings["revision"] == 0
        assert "Nothing flagged yet." in findings["html"]
        saved = await panel.set("faber.left.1.faber_height_cm", "14.5", base=0)
        assert saved["type"] == "saved"
        assert saved["value"] == 14.5
        assert saved["version"] == 1
        assert saved["by"] == "Maya Okafor"
        saved = await panel.set("faber.left.1.faber_height_cm", "15", base=1, edit="e2")
        assert (saved["value"], saved["version"]) == (15, 2)
        await panel.close()

        # The connection dropped; a new one (or a reload) gets everything back.
        again = Panel(assessment, key)
        state = await again.open()
        assert [(v["key"], v["value"], v["version"]) for v in state["values"]] == [
            ("faber.left.1.faber_height_cm", 15, 2)
        ]
        await again.close()

    run(scenario)
    row = ResultValue.objects.get(assessment=assessment)
    assert (row.protocol, row.side, row.trial, row.field, row.value) == (
        "faber",
        "left",
        1,
        "faber_height_cm",
        15,
    )
    # Every change is in the audit log, by field name.
    changes = AuditEvent.objects.filter(object_type="assessment", action="updated")
    assert [event.changes for event in changes] == [
        ["faber.left.1.faber_height_cm"],
        ["faber.left.1.faber_height_cm"],
    ]


def test_a_resent_edit_whose_answer_was_lost_is_not_a_conflict(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        await panel.set("knee_to_wall.right.1.ktw_cm", "9.5", base=0)
        # The page never heard "saved" (the socket dropped) and sends it again with base 0.
        again = await panel.set("knee_to_wall.right.1.ktw_cm", "9.5", base=0, edit="e1-again")
        assert again["type"] == "saved"
        assert again["version"] == 1
        await panel.close()

    run(scenario)
    assert ResultValue.objects.get(assessment=assessment).version == 1


def test_two_windows_editing_one_value_never_overwrite_each_other(assessment, clinician) -> None:
    key = session_key_for(clinician.user)
    address = "lunge.left.2.knee_position"

    async def scenario() -> None:
        laptop, tablet = Panel(assessment, key), Panel(assessment, key)
        await laptop.open()
        await tablet.open()

        saved = await laptop.set(address, "over_big_toe", base=0)
        # The tablet hears the laptop's value live.
        heard = await tablet.frame_of("value")
        assert (heard["key"], heard["value"], heard["version"]) == (address, "over_big_toe", 1)

        # The tablet had the old (empty) value on screen when its clinician changed it.
        conflict = await tablet.set(address, "over_mid_foot", base=0, edit="t1")
        assert conflict["type"] == "conflict"
        assert conflict["value"] == "over_big_toe"
        assert conflict["version"] == saved["version"]
        assert conflict["by"] == "Maya Okafor"

        # Choosing "keep mine" sends it again against the version now known.
        kept = await tablet.set(address, "over_mid_foot", base=conflict["version"], edit="t2")
        assert (kept["type"], kept["version"]) == ("saved", 2)
        # Every window hears every save (its own too, which the page skips by version).
        echo = await laptop.frame_of("value")
        assert (echo["value"], echo["version"]) == ("over_big_toe", 1)
        update = await laptop.frame_of("value")
        assert (update["value"], update["version"]) == ("over_mid_foot", 2)
        await laptop.close()
        await tablet.close()

    run(scenario)
    assert ResultValue.objects.get(assessment=assessment).value == "over_mid_foot"


def test_values_outside_the_range_are_refused_with_a_message(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        refused = await panel.set("knee_to_wall.left.1.ktw_cm", "31", base=0)
        assert refused == {
            "type": "refused",
            "id": "e1",
            "key": "knee_to_wall.left.1.ktw_cm",
            "message": "Enter a value from 0 to 25 cm.",
        }
        refused = await panel.set("knee_to_wall.left.4.ktw_cm", "10", base=0, edit="e2")
        assert refused["message"] == "Knee-to-wall (ankle) has trials 1 to 3."
        refused = await panel.set("faber.left.1.faber_height_cm", "10", base="x", edit="e3")
        assert refused["message"] == "The page sent no valid version: reload it."
        saved = await panel.set("knee_to_wall.left.1.ktw_cm", "10", base=0, edit="e4")
        assert saved["type"] == "saved"
        await panel.close()

    run(scenario)
    assert ResultValue.objects.filter(assessment=assessment).count() == 1


# Values of every JSON shape for fields of every kind: each is refused with the field's message.
WRONG_SHAPES = [
    ("lunge.left.1.knee_position", ["a"], "Choose one of the listed options."),
    ("lunge.left.1.knee_position", {"value": "lateral"}, "Choose one of the listed options."),
    ("faber.right.1.pain_location", ["groin"], "Choose one of the listed options."),
    ("knee_to_wall.left.1.heel_lifted", ["yes"], "Choose yes or no."),
    ("knee_to_wall.left.1.ktw_cm", {"cm": 10}, "Enter a number."),
    ("knee_to_wall.left.1.ktw_cm", [10], "Enter a number."),
    ("knee_to_wall.left.1.ktw_cm", True, "Enter a number."),
    ("knee_to_wall.left.1.ktw_cm", "NaN", "Enter a number."),
    ("knee_to_wall.left.1.ktw_cm", "Infinity", "Enter a number."),
    ("knee_to_wall.left.1.ktw_cm", 10**300, "Enter a value from 0 to 25 cm."),
    ("aslr.left.1.notes", {"text": "x"}, "Enter text."),
    ("aslr.left.1.notes", "pain\u0000free", "Remove the control characters."),
]


def test_values_of_any_shape_are_refused_and_the_socket_goes_on(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        for number, (address, value, message) in enumerate(WRONG_SHAPES):
            refused = await panel.set(address, value, base=0, edit=f"w{number}")
            assert refused == {
                "type": "refused",
                "id": f"w{number}",
                "key": address,
                "message": message,
            }
        # A trial written with digits that are not ASCII, and keys that are not text.
        for number, address in enumerate(["lunge.left.².fppa_deg", ["lunge"], {"k": 1}, 7]):
            refused = await panel.set(address, "10", base=0, edit=f"k{number}")
            assert refused["type"] == "refused"
            assert refused["message"] == "Unknown field."
        saved = await panel.set("lunge.left.1.knee_position", "lateral", base=0, edit="ok")
        assert (saved["type"], saved["value"]) == ("saved", "lateral")
        await panel.close()

    run(scenario)
    assert [row.key for row in ResultValue.objects.filter(assessment=assessment)] == [
        "lunge.left.1.knee_position"
    ]


def test_frames_that_are_not_understood_get_an_error_and_the_socket_goes_on(
    assessment, clinician
) -> None:
    key = session_key_for(clinician.user)
    bad_frames = [
        ("not json", "bad_json"),
        (json.dumps([1]), "bad_frame"),
        (json.dumps("set"), "bad_frame"),
        ("null", "bad_frame"),
        (json.dumps({"key": "faber.left.1.pain"}), "bad_frame"),
        (json.dumps({"type": 5}), "bad_frame"),
        (json.dumps({"type": ["set"]}), "bad_frame"),
        ('{"type": "set", "value": 1' + "0" * 5000 + "}", "bad_json"),  # > Python's int limit
        (json.dumps({"type": "set", "notes": "x" * 20_000}), "too_large"),
        (json.dumps({"type": "explode"}), "unknown_type"),
        (json.dumps({"type": "step", "protocol": ["lunge"]}), "bad_field"),
        (json.dumps({"type": "measure", "action": ["start"]}), "bad_field"),
    ]

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        for text, code in bad_frames:
            await panel.communicator.send_to(text_data=text)
            error = await panel.frame()
            assert (error["type"], error["code"]) == ("error", code), text[:60]
            assert error["message"]
        await panel.communicator.send_to(bytes_data=b"\x00\x01")
        error = await panel.frame()
        assert (error["type"], error["code"]) == ("error", "bad_frame")
        saved = await panel.set("knee_to_wall.left.1.ktw_cm", "10", base=0)
        assert saved["type"] == "saved"
        await panel.close()

    run(scenario)
    assert ResultValue.objects.get(assessment=assessment).value == 10


@pytest.mark.parametrize("protocol", [["lunge"], {"key": "lunge"}, 7, None])
def test_a_measure_frame_naming_no_test_as_text_is_refused(assessment, clinician, protocol) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        await panel.communicator.send_to(
            text_data=json.dumps(
                {"type": "measure", "action": "start", "protocol": protocol, "side": "left"}
            )
        )
        assert await panel.frame_of("measurement") == {
            "type": "measurement",
            "state": "refused",
            "message": "This test is not measured from video.",
        }
        saved = await panel.set("lunge.left.1.fppa_deg", "12", base=0)
        assert saved["type"] == "saved"
        await panel.close()

    run(scenario)
    assert not Measurement.objects.exists()


def test_a_completed_assessment_refuses_changes(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        panel = Panel(assessment, key)
        await panel.open()
        await panel.set("faber.left.1.faber_height_cm", "14", base=0)
        await db(assessment_complete)(
            assessment=assessment, actor=clinician.user, context=SYSTEM, now=timezone.now()
        )
        assert (await panel.frame_of("locked")) == {"type": "locked"}
        refused = await panel.set("faber.left.1.faber_height_cm", "15", base=1, edit="late")
        assert refused["type"] == "refused"
        assert "completed and locked" in refused["message"]
        await panel.close()

    run(scenario)
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    assert ResultValue.objects.get(assessment=assessment).value == 14


def test_opening_a_step_shows_its_instructions_on_the_clients_room_socket(
    assessment, clinician, client_record
) -> None:
    from tests.sessions.test_room_consumer import joined

    clinician_key, client_key = session_key_for(clinician.user), session_key_for(client_record.user)

    async def scenario() -> None:
        room, _ = await joined(assessment.appointment, client_key)
        # Starting the assessment opened the first test: the client sees it on joining.
        assert (await room.frame_of("prompt"))["prompt"]["step"] == "aslr"
        panel = Panel(assessment, clinician_key)
        await panel.open()
        await panel.communicator.send_to(
            text_data=json.dumps({"type": "step", "protocol": "lunge"})
        )
        prompt = await room.frame_of("prompt")
        assert prompt["prompt"]["title"] == "Lunge knee tracking"
        assert prompt["prompt"]["view"] == "front"
        assert prompt["prompt"]["number"] == 4
        assert prompt["prompt"]["total"] == 7
        assert (
            "Step into a lunge and lower slowly, then come back up."
            in prompt["prompt"]["instructions"]
        )
        # A client who joins later (a reload) gets the current step at once.
        await room.close()
        again, _ = await joined(assessment.appointment, client_key, page="reloaded")
        assert (await again.frame_of("prompt"))["prompt"]["step"] == "lunge"
        await again.close()
        await panel.close()

    run(scenario)


@pytest.mark.parametrize("who", ["stranger", "client", "other_clinician", "other_client", "admin"])
def test_nobody_but_the_assessments_clinician_may_connect(
    who, assessment, client_record, other_clinician, other_client_record, admin_user
) -> None:
    users = {
        "stranger": None,
        "client": client_record.user,
        "other_clinician": other_clinician.user,
        "other_client": other_client_record.user,
        "admin": admin_user,
    }
    user = users[who]
    key = session_key_for(user) if user else None

    async def scenario() -> None:
        panel = Panel(assessment, key)
        connected, _ = await panel.communicator.connect()
        assert connected
        assert await panel.closed_with() == (4401 if user is None else 4403)

    run(scenario)
