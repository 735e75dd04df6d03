"""Measuring a test from the client's camera: starting and stopping (the clinician), recording
what the media worker found, and accepting the measured values into the assessment.

While a measurement runs, the room's prompt for the client carries it (``prompt["measure"]``):
the client's page opens a send-only connection to the server's media peer for it, and a page
that reloads gets it again. The worker publishes live readings to the assessment's group (the
clinician's panel) and framing hints to the room's group (the client's page). A clinician's
panel that reloads gets each test's latest measurement not yet accepted (``panel_measurements``).

A media worker reports every MEDIA_HEARTBEAT_SECONDS while it measures. One that has been
silent for MEDIA_WORKER_TIMEOUT_SECONDS has died with its process: its measurement is failed,
with that reason, whenever the assessment is next looked at (a panel connects, a measurement is
started or stopped), since nobody else will ever end it.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import models, transaction

from assessments.models import (
    Assessment,
    Measurement,
    MeasurementStatus,
    ResultValue,
    ValueSource,
)
from assessments.pose.analysis import ANALYSES, LEFT_OUT_REASONS
from assessments.pose.model import model_description, vision_unavailable
from assessments.protocols import PROTOCOLS, SIDES, ValueAddress, ValueRefused, value_clean
from assessments.services import (
    AssessmentError,
    SavedValue,
    assessment_group,
    assessment_value_save,
    protocol_order,
)
from clinic.audit import RequestContext
from clinic.models import User
from sessions.models import Appointment
from sessions.room.services import RoomState, room_prompt_set, room_state
from telehealth.live import send_after_commit

# Frames are analysed at most this many pixels on their long side. The client's page is asked to
# send no larger (the prompt's ``longSide``): a bigger frame costs the worker decoding and
# downscaling, for nothing the model would see.
ANALYSIS_LONG_SIDE = 640


def _prompt(assessment: Assessment, protocol: str, measure: dict[str, Any] | None) -> dict:
    order = protocol_order()
    prompt = PROTOCOLS[protocol].prompt(number=order.index(protocol) + 1, total=len(order))
    if measure:
        prompt["measure"] = measure
    return prompt


def _panel_frame(measurement: Measurement, *, client_name: str = "") -> dict[str, Any]:
    """The measurement as the clinician's panel shows it (the frames the worker sends while it
    runs add the live readings)."""
    frame: dict[str, Any] = {
        "type": "measurement",
        "measurement": str(measurement.uuid),
        "protocol": measurement.protocol,
        "side": measurement.side,
    }
    if measurement.status == MeasurementStatus.STARTED:
        return {**frame, "state": "waiting", "message": f"Waiting for {client_name}'s camera…"}
    if measurement.status == MeasurementStatus.RUNNING:
        return {**frame, "state": "running", "message": f"Measuring from {client_name}'s camera…"}
    return {
        **frame,
        "state": "failed" if measurement.status == MeasurementStatus.FAILED else "ended",
        "reason": measurement.end_reason,
        "summary": measurement.summary,
        "left_out": left_out_text(measurement.frames_left_out),
        "model": measurement.model_name,
        "version": measurement.model_version,
    }


def left_out_text(left_out: dict[str, int]) -> list[str]:
    """Frames left out of a measurement, most first, as the clinician reads them
    ("12 facing the wrong way")."""
    return [
        f"{count} {LEFT_OUT_REASONS.get(reason, reason)}"
        for reason, count in sorted(left_out.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]


def _event(frame: dict[str, Any]) -> dict[str, Any]:
    """A panel frame as a channel layer event for the assessment's group."""
    return {**frame, "type": "assessment.measurement"}


def panel_measurements(*, assessment_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """For a panel that (re)connects: each test's latest measurement, unless its values were
    accepted, so that a reload neither loses a running measurement nor finished values."""
    measurements_expire(assessment_id=assessment_id, now=now)
    latest: dict[str, Measurement] = {}
    for measurement in (
        Measurement.objects.filter(assessment_id=assessment_id)
        .select_related("assessment__client")
        .defer("landmarks")
        .order_by("-started_at", "-pk")
    ):
        latest.setdefault(measurement.protocol, measurement)
    return [
        _panel_frame(measurement, client_name=measurement.assessment.client.name)
        for measurement in latest.values()
        if measurement.accepted_at is None
    ]


def measurement_workers(*, assessment_id: int) -> list[tuple[str, str]]:
    """(measurement, worker channel) of the assessment's running measurements."""
    return [
        (str(measurement_uuid), channel)
        for measurement_uuid, channel in Measurement.objects.filter(
            assessment_id=assessment_id, status=MeasurementStatus.RUNNING
        )
        .exclude(worker_channel="")
        .values_list("uuid", "worker_channel")
    ]


def measurement_start(
    *, assessment_id: int, actor: User, protocol: str, side: str, now: dt.datetime
) -> Measurement:
    """The clinician asks to measure a test from the client's camera (one at a time)."""
    unavailable = vision_unavailable()
    if unavailable:
        raise AssessmentError(unavailable.message)
    # A frame can carry any JSON: a list or an object is not hashable, so not a dict key.
    if not isinstance(protocol, str) or protocol not in ANALYSES:
        raise ValueRefused("This test is not measured from video.")
    if side not in SIDES:
        raise ValueRefused("Side must be left or right.")
    with transaction.atomic():
        assessment = (
            Assessment.objects.select_for_update(of=("self",))
            .select_related("appointment", "clinician", "client")
            .get(pk=assessment_id)
        )
        if assessment.clinician.user_id != actor.pk:
            raise AssessmentError("Only the clinician running this assessment can measure.")
        if assessment.is_locked:
            raise AssessmentError("This assessment is completed and locked.")
        appointment: Appointment | None = assessment.appointment
        if appointment is None or room_state(appointment, now=now) != RoomState.OPEN:
            raise AssessmentError("Measuring needs the client in a video session that is open.")
        if appointment.admitted_at is None:
            raise AssessmentError("Let the client in first: measuring uses their camera.")
        for running in assessment.measurements.filter(
            status__in=[MeasurementStatus.STARTED, MeasurementStatus.RUNNING]
        ):
            _stop(running, reason="replaced by a new measurement", now=now)
        model = model_description()
        measurement = Measurement.objects.create(
            assessment=assessment,
            protocol=protocol,
            side=side,
            started_at=now,
            started_by=actor,
            model_name=model["model"],
            model_version=model["version"],
        )
        definition = PROTOCOLS[protocol]
        room_prompt_set(
            appointment_id=appointment.pk,
            prompt=_prompt(
                assessment,
                protocol,
                {
                    "id": str(measurement.uuid),
                    "view": definition.camera_view.value,
                    "longSide": ANALYSIS_LONG_SIDE,
                },
            ),
        )
        if assessment.current_protocol != protocol:
            assessment.current_protocol = protocol
            assessment.save(update_fields=["current_protocol"])
        send_after_commit(
            assessment_group(assessment),
            _event(_panel_frame(measurement, client_name=assessment.client.name)),
            group=True,
        )
    return measurement


def _worker_silent(measurement: Measurement, now: dt.datetime) -> bool:
    last_heard = measurement.heartbeat_at or measurement.started_at
    return measurement.status == MeasurementStatus.RUNNING and last_heard < now - dt.timedelta(
        seconds=settings.MEDIA_WORKER_TIMEOUT_SECONDS
    )


def _fail_silent(measurement: Measurement, *, now: dt.datetime) -> None:
    """The worker died (its process ended): end the measurement it left running (locked)."""
    measurement.status = MeasurementStatus.FAILED
    measurement.ended_at = now
    measurement.end_reason = (
        "the media worker stopped responding (nothing from it for "
        f"{settings.MEDIA_WORKER_TIMEOUT_SECONDS} seconds)"
    )
    measurement.worker_channel = ""
    measurement.save(update_fields=["status", "ended_at", "end_reason", "worker_channel"])
    _clear_prompt_of(measurement)
    send_after_commit(
        assessment_group(measurement.assessment),
        _event(_panel_frame(measurement)),
        group=True,
    )


def measurements_expire(*, assessment_id: int, now: dt.datetime) -> None:
    """Fail the assessment's running measurements whose media worker fell silent."""
    silent_since = now - dt.timedelta(seconds=settings.MEDIA_WORKER_TIMEOUT_SECONDS)
    with transaction.atomic():
        for measurement in (
            Measurement.objects.select_for_update(of=("self",))
            .select_related("assessment__appointment")
            .defer("landmarks")
            .filter(assessment_id=assessment_id, status=MeasurementStatus.RUNNING)
            .filter(
                models.Q(heartbeat_at__lt=silent_since)
                | models.Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
            )
        ):
            _fail_silent(measurement, now=now)


def _stop(measurement: Measurement, *, reason: str, now: dt.datetime) -> None:
    if _worker_silent(measurement, now):
        _fail_silent(measurement, now=now)
        return
    if measurement.worker_channel:
        # The worker sums up, saves and tells everyone; it has the frames.
        send_after_commit(
            measurement.worker_channel,
            {"type": "media.stop", "measurement": str(measurement.uuid), "reason": reason},
            group=False,
        )
        return
    measurement.status = MeasurementStatus.ENDED
    measurement.ended_at = now
    measurement.end_reason = reason
    measurement.save(update_fields=["status", "ended_at", "end_reason"])
    send_after_commit(
        assessment_group(measurement.assessment),
        _event(_panel_frame(measurement)),
        group=True,
    )


STOP_REASONS = {
    "": "stopped by the clinician",
    "step": "the clinician moved to another test",
}


def measurement_stop(
    *, assessment_id: int, actor: User, measurement_uuid: str, why: str = "", now: dt.datetime
) -> None:
    if why not in STOP_REASONS:
        raise ValueRefused("Unknown reason to stop.")
    with transaction.atomic():
        measurement = _measurement_for(assessment_id, measurement_uuid, actor, lock=True)
        if not measurement.is_live:
            return
        _stop(measurement, reason=STOP_REASONS[why], now=now)
        _clear_prompt(measurement)


def _clear_prompt(measurement: Measurement) -> None:
    assessment = measurement.assessment
    if assessment.appointment_id and assessment.current_protocol:
        room_prompt_set(
            appointment_id=assessment.appointment_id,
            prompt=_prompt(assessment, assessment.current_protocol, None),
        )


def _clear_prompt_of(measurement: Measurement) -> None:
    """Stop asking the client's page for its camera, if it is this measurement that asks."""
    assessment = measurement.assessment
    prompt = assessment.appointment.room_prompt if assessment.appointment_id else {}
    if (prompt.get("measure") or {}).get("id") == str(measurement.uuid):
        _clear_prompt(measurement)


def _measurement_for(
    assessment_id: int, measurement_uuid: str, actor: User, *, lock: bool = False
) -> Measurement:
    try:
        UUID(str(measurement_uuid))
    except ValueError:
        raise ValueRefused("Unknown measurement.") from None
    measurements = Measurement.objects.select_related("assessment__clinician")
    if lock:
        measurements = measurements.select_for_update(of=("self",))
    measurement = measurements.filter(uuid=measurement_uuid, assessment_id=assessment_id).first()
    if measurement is None:
        raise ValueRefused("Unknown measurement.")
    if measurement.assessment.clinician.user_id != actor.pk:
        raise AssessmentError("Only the clinician running this assessment can measure.")
    return measurement


@dataclass(frozen=True)
class Accepted:
    values: list[SavedValue]
    model: str
    version: str
    # Measured values the field refused (trial, message): not recorded, the others were.
    refused: list[tuple[int, str]]


def measurement_accept(
    *,
    assessment_id: int,
    actor: User,
    measurement_uuid: str,
    context: RequestContext,
    now: dt.datetime,
) -> Accepted:
    """Record a finished measurement's values, marked "measured from video" with the model,
    its version, the confidence and how many frames were used."""
    measurement = _measurement_for(assessment_id, measurement_uuid, actor)
    if measurement.status != MeasurementStatus.ENDED:
        raise AssessmentError("The measurement has not finished yet: stop it first.")
    values = measurement.summary.get("values") or {}
    if not values:
        withheld = measurement.summary.get("withheld") or []
        if withheld:
            raise AssessmentError(
                "The measurement found no value to record: "
                + "; ".join(f"trial {item['trial']}: {item['reason']}" for item in withheld)
                + "."
            )
        raise AssessmentError(
            "The measurement found no value to record (no repetition was recognised)."
        )
    # Each value is checked against its field before anything is written: one the field
    # refuses (a measurement summed up under older rules, say) is left out with the reason,
    # and the others are recorded.
    addresses, refused = [], []
    for field_key, trials in sorted(values.items()):
        for trial, value in trials:
            address = ValueAddress(measurement.protocol, measurement.side, trial, field_key)
            try:
                value_clean(address, value)
            except ValueRefused as error:
                refused.append((trial, error.message))
                continue
            addresses.append((address, value))
    detail = {
        "measurement": str(measurement.uuid),
        "model": measurement.model_name,
        "version": measurement.model_version,
        "confidence": measurement.confidence,
        "frames_used": measurement.frames_used,
        "frames_left_out": sum(measurement.frames_left_out.values()),
    }
    if not addresses:
        raise AssessmentError(
            "None of the measured values can be recorded: "
            + "; ".join(f"trial {trial}: {message}" for trial, message in refused)
        )
    saved = []
    with transaction.atomic():
        for address, value in addresses:
            current = (
                ResultValue.objects.filter(
                    assessment_id=assessment_id,
                    protocol=address.protocol,
                    side=address.side,
                    trial=address.trial,
                    field=address.field,
                )
                .values_list("version", flat=True)
                .first()
            )
            saved.append(
                assessment_value_save(
                    assessment_id=assessment_id,
                    actor=actor,
                    key=address,
                    raw=value,
                    # Accepting is the clinician's explicit choice over what is there.
                    base_version=current or 0,
                    context=context,
                    now=now,
                    source=ValueSource.VIDEO,
                    measurement=detail,
                )
            )
        Measurement.objects.filter(pk=measurement.pk).update(accepted_at=now)
    return Accepted(
        values=saved,
        model=measurement.model_name,
        version=measurement.model_version,
        refused=refused,
    )


# --- The worker's side (called from the media worker, in a thread) -----------------------------


def measurement_for_worker(*, measurement_uuid: str, appointment_uuid: str) -> Measurement | None:
    """A measurement waiting for the client's camera in this appointment, or None."""
    return (
        Measurement.objects.select_related("assessment__appointment", "assessment__client")
        .filter(
            uuid=measurement_uuid,
            assessment__appointment__uuid=appointment_uuid,
            status=MeasurementStatus.STARTED,
        )
        .first()
    )


def measurement_running(*, measurement_id: int, worker_channel: str, now: dt.datetime) -> None:
    Measurement.objects.filter(pk=measurement_id).update(
        status=MeasurementStatus.RUNNING, worker_channel=worker_channel, heartbeat_at=now
    )


def measurement_heartbeat(*, measurement_id: int, now: dt.datetime) -> bool:
    """The worker is alive. False when the measurement is no longer running on record (failed
    as silent after a stall, say): the worker then ends it."""
    return bool(
        Measurement.objects.filter(pk=measurement_id, status=MeasurementStatus.RUNNING).update(
            heartbeat_at=now
        )
    )


def measurement_record(
    *,
    measurement_id: int,
    status: MeasurementStatus,
    reason: str,
    summary: dict[str, Any],
    landmarks: list,
    frames_received: int,
    frames_analysed: int,
    frames_dropped: int,
    now: dt.datetime,
) -> Measurement:
    """The worker's result; the room's prompt stops asking for the camera, and the clinician's
    panel gets the summary."""
    with transaction.atomic():
        measurement = (
            Measurement.objects.select_for_update(of=("self",))
            .select_related("assessment")
            .get(pk=measurement_id)
        )
        measurement.status = status
        measurement.end_reason = reason[:200]
        measurement.ended_at = now
        measurement.summary = summary
        measurement.frames_used = summary.get("frames_used") or 0
        measurement.frames_left_out = summary.get("frames_left_out_by") or {}
        measurement.confidence = summary.get("confidence")
        measurement.visibility = summary.get("visibility")
        measurement.landmarks = landmarks
        measurement.frames_received = frames_received
        measurement.frames_analysed = frames_analysed
        measurement.frames_dropped = frames_dropped
        measurement.worker_channel = ""
        measurement.save()
        _clear_prompt_of(measurement)
        send_after_commit(
            assessment_group(measurement.assessment), _event(_panel_frame(measurement)), group=True
        )
    return measurement
