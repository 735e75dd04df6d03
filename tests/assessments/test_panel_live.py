"""What the assessment panel learns live, through the real sockets (full ASGI stack, the Redis
channel layer, PostgreSQL): the findings so far reach every window open on the assessment after
each save, a value its field's rule refuses is neither stored nor counted in a finding, and
starting the assessment shows the first test on the client's screen at once."""

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, ResultValue
from assessments.protocols import PROTOCOLS
from assessments.services import assessment_value_save, findings_html, findings_preview
from clinic.audit import SYSTEM
from sessions.models import Appointment
from tests.assessments.conftest import record
from tests.assessments.test_autosave_socket import Panel, db
from tests.conftest import session_key_for
from tests.sessions.test_room_consumer import Socket

pytestmark = pytest.mark.django_db(transaction=True)

KTW_LEFT = "knee_to_wall.left.1.ktw_cm"
KTW_RIGHT = "knee_to_wall.right.1.ktw_cm"


class Window(Panel):
    """A panel's socket that keeps every frame it hears."""

    def __init__(self, assessment: Assessment, session_key: str) -> None:
        super().__init__(assessment, session_key)
        self.heard: list[dict[str, Any]] = []

    async def frame(self, timeout: float = 10) -> dict[str, Any]:
        frame = await super().frame(timeout)
        self.heard.append(frame)
        return frame

    def findings(self) -> list[dict[str, Any]]:
        return [frame for frame in self.heard if frame["type"] == "findings"]

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(0.5)


def run(scenario) -> None:
    async_to_sync(scenario)()


def test_findings_reach_every_window_after_each_save(assessment, clinician) -> None:
    key = session_key_for(clinician.user)
    heard: dict[str, Any] = {}

    async def scenario() -> None:
        laptop, tablet = Window(assessment, key), Window(assessment, key)
        for window in (laptop, tablet):
            state = await window.open()
            assert state["findings"]["revision"] == 0
        await laptop.set(KTW_LEFT, "12", base=0)
        # One side alone is not a difference: nothing flagged yet, in both windows.
        first = await tablet.frame_of("findings")
        assert await laptop.frame_of("findings") == first
        assert first["revision"] == 1
        assert "Nothing flagged yet." in first["html"]

        await laptop.set(KTW_RIGHT, "8.5", base=0, edit="e2")
        heard.update(await tablet.frame_of("findings"))
        assert await laptop.frame_of("findings") == heard
        assert heard["revision"] == 2
        assert "Knee-to-wall: right ankle stiffer" in heard["html"]
        assert "Right ankle dorsiflexion restricted" in heard["html"]
        # Each finding names the values it used.
        assert (
            "From: Knee-to-wall (ankle), left, trial 1: toe-to-wall distance 12 cm; "
            "Knee-to-wall (ankle), right, trial 1: toe-to-wall distance 8.5 cm."
        ) in heard["html"]
        # Once per save, in each window: derived once and sent to all.
        assert await laptop.nothing_more()
        assert await tablet.nothing_more()
        assert laptop.findings() == tablet.findings() == [first, heard]
        await laptop.close()
        await tablet.close()

    run(scenario)
    # The rules of completion, and the list as the page itself renders it.
    found = findings_preview(assessment)
    assert {(f.key, f.side) for f in found} == {
        ("ktw_asymmetry", "right"),
        ("ktw_restricted", "right"),
    }
    assert heard["html"] == findings_html(found)


def test_a_refused_value_is_not_stored_and_never_reaches_a_finding(assessment, clinician) -> None:
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        laptop, tablet = Window(assessment, key), Window(assessment, key)
        await laptop.open()
        await tablet.open()
        await laptop.set(KTW_LEFT, "12", base=0)
        await tablet.frame_of("findings")
        await laptop.frame_of("findings")
        # 9.2 cm is off the field's 0.5 cm steps. Had it been counted, the sides would differ
        # by 2.8 cm: "right ankle stiffer".
        refused = await laptop.set(KTW_RIGHT, "9.2", base=0, edit="e2")
        assert refused == {
            "type": "refused",
            "id": "e2",
            "key": KTW_RIGHT,
            "message": "Use steps of 0.5 cm: 9 or 9.5 cm.",
        }
        # Nothing was written, so no window hears a value or new findings.
        assert await tablet.nothing_more()
        assert await laptop.nothing_more()
        assert await db(lambda: [f.key for f in findings_preview(assessment)])() == []

        # The nearest valid value is saved and counted.
        saved = await laptop.set(KTW_RIGHT, "9", base=0, edit="e3")
        assert (saved["type"], saved["value"]) == ("saved", 9)
        heard = await tablet.frame_of("findings")
        assert "Knee-to-wall: right ankle stiffer" in heard["html"]
        assert "toe-to-wall distance 9 cm" in heard["html"]
        assert "9.2" not in heard["html"]
        await laptop.close()
        await tablet.close()

    run(scenario)
    assert {row.key: row.value for row in ResultValue.objects.filter(assessment=assessment)} == {
        KTW_LEFT: 12,
        KTW_RIGHT: 9,
    }


def test_a_step_opened_in_one_window_moves_the_others_but_is_not_echoed_to_it(
    assessment, clinician
) -> None:
    """Clicking through the steps quickly, a window hearing its own clicks late would be taken
    back to an earlier step."""
    key = session_key_for(clinician.user)

    async def scenario() -> None:
        laptop, tablet = Window(assessment, key), Window(assessment, key)
        await laptop.open()
        await tablet.open()
        for protocol in ("faber", "lunge", "knee_to_wall"):
            await laptop.communicator.send_to(
                text_data=json.dumps({"type": "step", "protocol": protocol})
            )
        heard = [(await tablet.frame_of("step"))["protocol"] for _ in range(3)]
        assert heard == ["faber", "lunge", "knee_to_wall"]
        assert await laptop.nothing_more()
        await laptop.close()
        await tablet.close()

    run(scenario)
    assessment.refresh_from_db()
    assert assessment.current_protocol == "knee_to_wall"


def test_a_save_costs_the_same_queries_however_many_values_are_recorded(
    assessment, clinician
) -> None:
    """The findings are derived once per save from one read of the values."""

    def save(key: str, raw: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assessment_value_save(
                assessment_id=assessment.pk,
                actor=clinician.user,
                key=key,
                raw=raw,
                base_version=0,
                context=SYSTEM,
                now=timezone.now(),
            )
        return len(queries)

    first = save(KTW_LEFT, "12")
    record(
        assessment,
        clinician.user,
        {
            f"{protocol}.{side}.{trial}.pain": 2
            for protocol, definition in PROTOCOLS.items()
            for side in ("left", "right")
            for trial in range(1, definition.trials + 1)
        },
    )
    assert ResultValue.objects.filter(assessment=assessment).count() > 30
    assert save(KTW_RIGHT, "8.5") == first
    assert first <= 8


def test_starting_the_assessment_shows_the_first_test_to_the_client(
    session_soon: Appointment, clinician, client_record, as_clinician, library
) -> None:
    url = reverse("assessments:start_for_appointment", args=[session_soon.uuid])
    first = PROTOCOLS["aslr"]
    ana_key = session_key_for(client_record.user)

    async def scenario() -> None:
        # Ana is in the waiting room.
        ana = Socket(session_soon, ana_key)
        assert await ana.open()
        await ana.frame_of("welcome", timeout=10)
        # Maya presses "Start the guided assessment" in the room (htmx).
        response = await db(as_clinician.post)(url, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert 'data-step="aslr" aria-current="step"' in response.content.decode()
        prompt = await ana.frame_of("prompt", timeout=10)
        assert prompt["prompt"]["step"] == "aslr"
        assert prompt["prompt"]["title"] == first.name
        assert prompt["prompt"]["number"] == 1
        assert prompt["prompt"]["instructions"] == list(first.instructions)
        await ana.close()

    run(scenario)
    assessment = Assessment.objects.get(appointment=session_soon)
    assert assessment.current_protocol == "aslr"
    session_soon.refresh_from_db()
    assert session_soon.room_prompt["step"] == "aslr"

    # Pressing it again (a second window) opens the same assessment where it is.
    Assessment.objects.filter(pk=assessment.pk).update(current_protocol="faber")
    as_clinician.post(url, headers={"HX-Request": "true"})
    assessment.refresh_from_db()
    assert assessment.current_protocol == "faber"
