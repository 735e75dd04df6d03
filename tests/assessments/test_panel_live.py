"""What the assessment panel learns live, through the real sockets (full ASGI stack, the Redis
channel layer, PostgreSQL): starting the assessment shows the first test on the client's screen
at once."""

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from assessments.models import Assessment
from assessments.protocols import PROTOCOLS
from sessions.models import Appointment
from tests.assessments.test_autosave_socket import db
from tests.conftest import session_key_for
from tests.sessions.test_room_consumer import Socket

pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario) -> None:
    async_to_sync(scenario)()


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
