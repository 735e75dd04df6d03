"""Starting, refusing and accepting camera measurements over the assessment socket, and the
panel when camera measurement is not installed."""

import datetime as dt

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from assessments.models import Measurement, MeasurementStatus, ResultValue
from assessments.pose.model import ENABLE_HINT, SWITCHED_OFF
from assessments.services import assessment_complete, assessment_start_in_person
from clinic.audit import SYSTEM
from sessions.models import Appointment
from sessions.room.services import room_admit
from tests.assessments.conftest import open_panel
from tests.conftest import session_key_for

pytestmark = pytest.mark.django_db(transaction=True)


def talk(assessment, user, frames: list[dict], *, wait_for: str) -> dict:
    """Send frames on the clinician's assessment socket; the first answer of a kind."""
    result: dict = {}
    key = session_key_for(user)

    async def scenario() -> None:
        socket = await open_panel(assessment, key)
        for frame in frames:
            await socket.send_json_to(frame)
        while True:
            answer = await socket.receive_json_from(20)
            if answer["type"] == wait_for:
                result.update(answer)
                break
        await socket.disconnect()

    async_to_sync(scenario)()
    return result


START = {"type": "measure", "action": "start", "protocol": "lunge", "side": "left"}


def test_measuring_needs_the_client_let_in(assessment, clinician) -> None:
    answer = talk(assessment, clinician.user, [START], wait_for="measurement")
    assert answer == {
        "type": "measurement",
        "state": "refused",
        "message": "Let the client in first: measuring uses their camera.",
    }
    assert not Measurement.objects.exists()


def test_a_measurement_starts_once_the_client_is_in(assessment, clinician) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    answer = talk(assessment, clinician.user, [START], wait_for="measurement")
    measurement = Measurement.objects.get()
    assert answer["state"] == "waiting"
    assert answer["measurement"] == str(measurement.uuid)
    assert answer["message"] == "Waiting for Ana Silva's camera…"
    assert (measurement.protocol, measurement.side, measurement.status) == (
        "lunge",
        "left",
        MeasurementStatus.STARTED,
    )
    assert measurement.model_name == "MediaPipe Pose"
    # The client's room prompt asks for the camera.
    prompt = Appointment.objects.get(pk=assessment.appointment_id).room_prompt
    assert prompt["measure"] == {
        "id": str(measurement.uuid),
        "view": "front",
        "longSide": 640,
    }
    # A second start replaces the first.
    talk(assessment, clinician.user, [START], wait_for="measurement")
    assert Measurement.objects.filter(status=MeasurementStatus.STARTED).count() == 1


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({**START, "protocol": "faber"}, "This test is not measured from video."),
        ({**START, "side": "middle"}, "Side must be left or right."),
        ({"type": "measure", "action": "jump"}, None),
    ],
)
def test_bad_measure_frames_are_refused(assessment, clinician, frame, message) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    answer = talk(
        assessment, clinician.user, [frame], wait_for="measurement" if message else "error"
    )
    if message:
        assert answer["message"] == message
    else:
        assert answer["message"] == "“action” must be start or stop."
    assert not Measurement.objects.exists()


def test_an_in_person_assessment_has_no_camera(client_record, clinician, appointment) -> None:
    assessment = assessment_start_in_person(
        client=client_record,
        clinician=clinician,
        actor=clinician.user,
        context=SYSTEM,
        now=timezone.now(),
    )
    answer = talk(assessment, clinician.user, [START], wait_for="measurement")
    assert answer["message"] == "Measuring needs the client in a video session that is open."


# Without the vision extra installed at all: tests/assessments/test_without_vision.py.


def test_switched_off_measuring_says_so(assessment, clinician, settings) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    settings.POSE_ANALYSIS_ENABLED = False
    answer = talk(assessment, clinician.user, [START], wait_for="measurement")
    assert answer["message"] == SWITCHED_OFF
    assert SWITCHED_OFF.startswith("Camera measurement is switched off on this server")
    assert not Measurement.objects.exists()


def test_a_pose_model_that_cannot_be_loaded_is_named(assessment, clinician, settings) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    settings.POSE_MODEL = "clinic_models.pose.NoSuchModel"
    answer = talk(assessment, clinician.user, [START], wait_for="measurement")
    assert answer["message"] == (
        "Camera measurement is not available: the pose model clinic_models.pose.NoSuchModel "
        "cannot be loaded on this server. Enter values by hand."
    )
    assert not Measurement.objects.exists()


def finished_measurement(assessment, clinician, **fields) -> Measurement:
    """A lunge measurement of the left side that ended, as the worker records one (``fields``
    replace any of its columns)."""
    return Measurement.objects.create(
        **{
            "assessment": assessment,
            "protocol": "lunge",
            "side": "left",
            "status": MeasurementStatus.ENDED,
            "model_name": "MediaPipe Pose",
            "model_version": "0.10.21 (model_complexity=1)",
            "started_at": timezone.now() - dt.timedelta(minutes=1),
            "started_by": clinician.user,
            "summary": {
                "frames": 50,
                "frames_used": 40,
                "frames_left_out_by": {"facing": 3, "turned": 7},
                "values": {"fppa_deg": [[1, 11.5]]},
            },
            "frames_used": 40,
            "frames_left_out": {"facing": 3, "turned": 7},
            **fields,
        }
    )


def test_accepting_records_the_values_as_measured_from_video(assessment, clinician) -> None:
    measurement = finished_measurement(
        assessment,
        clinician,
        summary={
            "frames": 120,
            "frames_used": 110,
            "frames_left_out_by": {"low_confidence": 6, "out_of_frame": 4},
            "confidence": 0.93,
            "values": {"fppa_deg": [[1, 11.5], [2, 12], [3, 13.5]]},
        },
        # As the media worker records them from the summary.
        frames_used=110,
        frames_left_out={"low_confidence": 6, "out_of_frame": 4},
        confidence=0.93,
    )
    # A value typed before is replaced by the accepted measurement (the clinician chose it).
    talk(
        assessment,
        clinician.user,
        [{"type": "set", "id": "e1", "key": "lunge.left.1.fppa_deg", "value": "9", "base": 0}],
        wait_for="saved",
    )
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="accepted",
    )
    assert [(v["key"], v["value"], v["source"]) for v in answer["values"]] == [
        ("lunge.left.1.fppa_deg", 11.5, "video"),
        ("lunge.left.2.fppa_deg", 12, "video"),
        ("lunge.left.3.fppa_deg", 13.5, "video"),
    ]
    row = ResultValue.objects.get(trial=1)
    assert row.version == 2
    assert row.measurement == {
        "measurement": str(measurement.uuid),
        "model": "MediaPipe Pose",
        "version": "0.10.21 (model_complexity=1)",
        "confidence": 0.93,
        "frames_used": 110,
        "frames_left_out": 10,
    }
    measurement.refresh_from_db()
    assert measurement.accepted_at is not None


def test_a_running_measurement_cannot_be_accepted(assessment, clinician) -> None:
    measurement = Measurement.objects.create(
        assessment=assessment,
        protocol="lunge",
        side="left",
        started_at=timezone.now(),
        started_by=clinician.user,
    )
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="measurement",
    )
    assert answer["message"] == "The measurement has not finished yet: stop it first."
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": "nope"}],
        wait_for="measurement",
    )
    assert answer["message"] == "Unknown measurement."
    assert not ResultValue.objects.exists()


def test_the_panel_offers_measuring_only_where_it_can(as_clinician, assessment, settings) -> None:
    url = reverse("assessments:panel_for_appointment", args=[assessment.appointment.uuid])
    html = as_clinician.get(url).content.decode()
    assert html.count('class="secondary measure-start"') == 3  # leg raise, lunge, stance
    assert ENABLE_HINT not in html
    assert "aria-disabled" not in html
    # Switched off on purpose: no Measure button, and the panel says why.
    settings.POSE_ANALYSIS_ENABLED = False
    html = as_clinician.get(url).content.decode()
    assert ">Measure</button>" not in html
    assert html.count(escape(SWITCHED_OFF)) == 3
    assert "not installed" not in html
    # Outside the call (the record page) there is no camera to measure.
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid])).content.decode()
    assert 'class="measure"' not in page


MEASURED_WITH = "Measured from video with MediaPipe Pose 0.10.21 (model_complexity=1)"


def test_a_value_its_field_refuses_is_left_out_and_the_others_are_recorded(
    assessment, clinician
) -> None:
    # A measurement summed up under older rules offered an FPPA beyond the field's range:
    # accepting records the others and says which was not recorded, instead of failing whole.
    measurement = finished_measurement(
        assessment,
        clinician,
        summary={"frames": 40, "values": {"fppa_deg": [[1, 11.5], [2, -62.5], [3, 13]]}},
    )
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="accepted",
    )
    assert [(v["key"], v["value"]) for v in answer["values"]] == [
        ("lunge.left.1.fppa_deg", 11.5),
        ("lunge.left.3.fppa_deg", 13),
    ]
    assert answer["refused"] == [{"trial": 2, "message": "Enter a value from -30 to 40°."}]
    assert sorted(ResultValue.objects.values_list("trial", flat=True)) == [1, 3]


def test_a_measurement_whose_values_were_all_withheld_says_why(assessment, clinician) -> None:
    measurement = finished_measurement(
        assessment,
        clinician,
        protocol="single_leg_stance",
        summary={
            "frames": 40,
            "values": {},
            "withheld": [
                {
                    "field": "pelvic_tilt_deg",
                    "trial": 1,
                    "value": 28.0,
                    "reason": "28° is outside the test's range (-20 to 20°): check the framing, "
                    "or enter a value",
                }
            ],
        },
    )
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="measurement",
    )
    assert answer["state"] == "refused"
    assert answer["message"] == (
        "The measurement found no value to record: trial 1: 28° is outside the test's range "
        "(-20 to 20°): check the framing, or enter a value."
    )
    assert not ResultValue.objects.exists()


def test_accepted_values_show_the_model_and_version_beside_measured_from_video(
    as_clinician, assessment, clinician
) -> None:
    measurement = finished_measurement(assessment, clinician)
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="accepted",
    )
    # The live panel's note for the accepted fields.
    assert (answer["model"], answer["version"]) == (
        "MediaPipe Pose",
        "0.10.21 (model_complexity=1)",
    )
    # The panel as it is loaded (after a reload, say).
    url = reverse("assessments:panel_for_appointment", args=[assessment.appointment.uuid])
    html = as_clinician.get(url).content.decode()
    assert html.count(f'<p class="measured">{escape(MEASURED_WITH)}</p>') == 1
    # The results page once the assessment is completed.
    assessment_complete(
        assessment=assessment, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert escape(MEASURED_WITH.replace("Measured", "measured")) in page.content.decode()


# --- After a reload: the panel gets its measurement back --------------------------------------


def state_of(assessment, user) -> dict:
    """The state frame a panel gets when it (re)connects."""
    key = session_key_for(user)

    async def connect() -> dict:
        panel = await open_panel(assessment, key)
        await panel.disconnect()
        return panel.state

    return async_to_sync(connect)()


def test_a_reloaded_panel_gets_the_measurement_that_is_waiting_or_running(
    assessment, clinician
) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    talk(assessment, clinician.user, [START], wait_for="measurement")
    measurement = Measurement.objects.get()
    assert state_of(assessment, clinician.user)["measurements"] == [
        {
            "type": "measurement",
            "measurement": str(measurement.uuid),
            "protocol": "lunge",
            "side": "left",
            "state": "waiting",
            "message": "Waiting for Ana Silva's camera…",
        }
    ]
    # A media worker took it and is alive.
    Measurement.objects.filter(pk=measurement.pk).update(
        status=MeasurementStatus.RUNNING,
        worker_channel="specific.worker!1",
        heartbeat_at=timezone.now(),
    )
    state = state_of(assessment, clinician.user)
    [running] = state["measurements"]
    assert running["state"] == "running"
    assert "specific.worker!1" not in str(state)  # where the worker is stays on the server
    assert running["message"] == "Measuring from Ana Silva's camera…"


def test_a_reloaded_panel_can_still_accept_a_finished_measurement(assessment, clinician) -> None:
    measurement = finished_measurement(assessment, clinician)
    Measurement.objects.filter(pk=measurement.pk).update(
        ended_at=timezone.now(), end_reason="stopped by the clinician"
    )
    [shown] = state_of(assessment, clinician.user)["measurements"]
    assert shown == {
        "type": "measurement",
        "measurement": str(measurement.uuid),
        "protocol": "lunge",
        "side": "left",
        "state": "ended",
        "reason": "stopped by the clinician",
        "summary": measurement.summary,
        # Frames left out, most first, in the clinician's words.
        "left_out": ["7 turned away from the view the test needs", "3 facing the wrong way"],
        "model": "MediaPipe Pose",
        "version": "0.10.21 (model_complexity=1)",
    }
    talk(
        assessment,
        clinician.user,
        [{"type": "accept", "measurement": str(measurement.uuid)}],
        wait_for="accepted",
    )
    # Once accepted, the values are in the fields: nothing is left to offer.
    assert state_of(assessment, clinician.user)["measurements"] == []


def test_each_test_shows_its_latest_measurement_not_older_ones(assessment, clinician) -> None:
    older = finished_measurement(assessment, clinician)
    newer = finished_measurement(assessment, clinician)
    leg_raise = finished_measurement(assessment, clinician)
    Measurement.objects.filter(pk=older.pk).update(
        started_at=timezone.now() - dt.timedelta(hours=1)
    )
    Measurement.objects.filter(pk=leg_raise.pk).update(protocol="aslr")
    shown = state_of(assessment, clinician.user)["measurements"]
    assert sorted((m["protocol"], m["measurement"]) for m in shown) == [
        ("aslr", str(leg_raise.uuid)),
        ("lunge", str(newer.uuid)),
    ]


# --- A media worker that died -------------------------------------------------------------------


def silent_worker_measurement(assessment, clinician, *, silent_s: float) -> Measurement:
    """A running measurement whose media worker last reported ``silent_s`` seconds ago, with
    the client's prompt still asking for the camera."""
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    talk(assessment, clinician.user, [START], wait_for="measurement")
    measurement = Measurement.objects.get()
    Measurement.objects.filter(pk=measurement.pk).update(
        status=MeasurementStatus.RUNNING,
        worker_channel="specific.gone!1",
        heartbeat_at=timezone.now() - dt.timedelta(seconds=silent_s),
    )
    return measurement


def test_a_measurement_whose_worker_fell_silent_fails_with_the_reason(
    assessment, clinician, settings
) -> None:
    settings.MEDIA_WORKER_TIMEOUT_SECONDS = 15
    measurement = silent_worker_measurement(assessment, clinician, silent_s=16)
    [shown] = state_of(assessment, clinician.user)["measurements"]
    reason = "the media worker stopped responding (nothing from it for 15 seconds)"
    assert (shown["state"], shown["reason"]) == ("failed", reason)
    measurement.refresh_from_db()
    assert (measurement.status, measurement.end_reason) == (MeasurementStatus.FAILED, reason)
    assert measurement.ended_at is not None
    assert measurement.worker_channel == ""
    # The client's page is no longer asked for its camera.
    prompt = Appointment.objects.get(pk=assessment.appointment_id).room_prompt
    assert "measure" not in prompt


def test_a_worker_that_reported_recently_is_left_running(assessment, clinician, settings) -> None:
    settings.MEDIA_WORKER_TIMEOUT_SECONDS = 15
    measurement = silent_worker_measurement(assessment, clinician, silent_s=5)
    [shown] = state_of(assessment, clinician.user)["measurements"]
    assert shown["state"] == "running"
    measurement.refresh_from_db()
    assert measurement.status == MeasurementStatus.RUNNING


def test_stopping_a_measurement_whose_worker_died_ends_it_at_once(
    assessment, clinician, settings
) -> None:
    settings.MEDIA_WORKER_TIMEOUT_SECONDS = 15
    measurement = silent_worker_measurement(assessment, clinician, silent_s=30)
    answer = talk(
        assessment,
        clinician.user,
        [{"type": "measure", "action": "stop", "measurement": str(measurement.uuid)}],
        wait_for="measurement",
    )
    assert answer["state"] == "failed"
    assert answer["reason"].startswith("the media worker stopped responding")
    measurement.refresh_from_db()
    assert measurement.status == MeasurementStatus.FAILED


def test_leaving_the_step_stops_the_measurement_with_that_reason(assessment, clinician) -> None:
    room_admit(appointment=assessment.appointment, user=clinician.user, now=timezone.now())
    talk(assessment, clinician.user, [START], wait_for="measurement")
    measurement = Measurement.objects.get()
    stop = {"type": "measure", "action": "stop", "measurement": str(measurement.uuid)}
    refused = talk(assessment, clinician.user, [{**stop, "why": "bored"}], wait_for="measurement")
    assert refused["message"] == "Unknown reason to stop."
    ended = talk(assessment, clinician.user, [{**stop, "why": "step"}], wait_for="measurement")
    assert (ended["state"], ended["reason"]) == ("ended", "the clinician moved to another test")
    measurement.refresh_from_db()
    assert measurement.end_reason == "the clinician moved to another test"
    assert "measure" not in Appointment.objects.get(pk=assessment.appointment_id).room_prompt
