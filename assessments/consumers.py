"""The clinician's assessment panel saves every value over this socket as it is entered.

Frames from the page:

- ``{"type": "set", "id": str, "key": "lunge.left.1.fppa_deg", "value": any, "base": int}``:
  store a value if it is still at version ``base`` (0: never saved). Answers ``saved`` (with
  the stored value and its new version), ``conflict`` (another window changed it: the stored
  value, its version and who changed it; nothing was written) or ``refused`` (with a message
  for the field).
- ``{"type": "step", "protocol": str}``: the clinician opened a step ("" for none); the
  client's room page shows its instructions.

Frames are read as on the room socket (telehealth/frames.py): one that is not a JSON object
with a text ``type`` is answered with an ``error`` frame (``bad_frame``, ``bad_json``,
``too_large``, ``unknown_type``, ``bad_field``, ``rate_limited``; ``server_error`` if handling
it failed) and the socket stays open: nothing already saved is touched.

- ``{"type": "measure", "action": "start", "protocol": str, "side": "left"|"right"}`` and
  ``{"type": "measure", "action": "stop", "measurement": uuid, "why": ""|"step"}``: measure a
  test from the client's camera; ``measurement`` frames follow (waiting, running with the live
  reading, ended or failed with the summary, or refused with a message).
- ``{"type": "accept", "measurement": uuid}``: record a finished measurement's values.

On connecting the page gets ``state``: every stored value with its version, the open step, the
status, the findings so far, and each test's latest measurement not yet accepted (as
``measurement`` frames). Every window on the assessment hears ``value`` and ``step`` when any
of them changes something (``step`` not the window that opened it), ``findings`` after every
save (``{"revision": int, "html": str}``: the "Findings so far" list rendered by the server; a
page keeps the highest revision), and ``locked`` when it is completed. While a measurement runs
its media worker calls the roll (``assessment.roll_call``) every few seconds and each open panel
answers: with no panel left open the worker ends the measurement.
"""

from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import Http404
from django.utils import timezone

from assessments.measurements import (
    measurement_accept,
    measurement_start,
    measurement_stop,
    measurement_workers,
    panel_measurements,
)
from assessments.media_worker import ensure_inline_worker
from assessments.models import Assessment
from assessments.protocols import ValueRefused
from assessments.selectors import assessment_fresh, assessment_get_for_writer
from assessments.services import (
    AssessmentError,
    assessment_group,
    assessment_step_set,
    assessment_value_save,
    assessment_values,
    findings_so_far,
    saved_value,
)
from clinic.audit import RequestContext
from sessions.room.services import CloseCode
from telehealth.sockets import FrameConsumer, TokenBucket

MAX_FRAME_BYTES = 16 * 1024


class AssessmentConsumer(FrameConsumer):
    assessment: Assessment | None = None
    max_frame_bytes = MAX_FRAME_BYTES
    rate_limited_message = "Too many changes at once: slow down."

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CloseCode.UNAUTHENTICATED.value)
            return
        assessment = await self._assessment(
            self.scope["url_route"]["kwargs"]["assessment_uuid"], user
        )
        if assessment is None:
            await self.close(code=CloseCode.NOT_PARTICIPANT.value)
            return
        self.assessment = assessment
        self.user = user
        self.group = assessment_group(assessment)
        self.bucket = TokenBucket(
            rate=settings.SIGNALING_MESSAGES_PER_SECOND, burst=settings.SIGNALING_BURST
        )
        headers = dict(self.scope.get("headers", []))
        client = self.scope.get("client") or [None]
        self.context = RequestContext(
            ip_address=client[0],
            user_agent=headers.get(b"user-agent", b"").decode(errors="replace")[:300],
            path=self.scope.get("path", "")[:500],
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        state = await self._state()
        workers = state.pop("workers")
        await self._send(state)
        # A reloaded panel tells a running measurement's worker at once that it is back,
        # rather than at the next roll call.
        for measurement, worker in workers:
            await self._present(measurement, worker)

    async def disconnect(self, code: int) -> None:
        if self.assessment is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "set":
            await self._on_set(frame)
        elif frame["type"] == "step":
            await self._on_step(frame)
        elif frame["type"] == "measure":
            await self._on_measure(frame)
        elif frame["type"] == "accept":
            await self._on_accept(frame)
        else:
            await self._error("unknown_type", "Unknown message type.")

    async def _on_set(self, frame: dict[str, Any]) -> None:
        edit = frame.get("id")
        edit = edit if isinstance(edit, str) and len(edit) <= 64 else None
        key = frame.get("key")
        try:
            result = await database_sync_to_async(assessment_value_save)(
                assessment_id=self.assessment.pk,
                actor=self.user,
                key=key,
                raw=frame.get("value"),
                base_version=frame.get("base"),
                context=self.context,
                now=timezone.now(),
            )
        except (ValueRefused, AssessmentError) as error:
            await self._send(
                {
                    "type": "refused",
                    "id": edit,
                    "key": key if isinstance(key, str) else None,
                    "message": error.message,
                }
            )
            return
        kind = "saved" if result.saved else "conflict"
        await self._send({"type": kind, "id": edit, **result.as_frame()})

    async def _on_step(self, frame: dict[str, Any]) -> None:
        protocol = frame.get("protocol")
        if not isinstance(protocol, str):
            await self._error("bad_field", "“protocol” must be text.")
            return
        try:
            await database_sync_to_async(assessment_step_set)(
                assessment_id=self.assessment.pk,
                actor=self.user,
                protocol=protocol,
                now=timezone.now(),
                origin=self.channel_name,
            )
        except (ValueRefused, AssessmentError) as error:
            await self._error("refused", error.message)

    async def _on_measure(self, frame: dict[str, Any]) -> None:
        """Start or stop measuring a test from the client's camera."""
        action = frame.get("action")
        try:
            if action == "start":
                await database_sync_to_async(measurement_start)(
                    assessment_id=self.assessment.pk,
                    actor=self.user,
                    protocol=frame.get("protocol"),
                    side=frame.get("side"),
                    now=timezone.now(),
                )
                # Only once a measurement is open: the client's offer waits in the media
                # channel until the worker reads it.
                ensure_inline_worker()
            elif action == "stop":
                why = frame.get("why", "")
                await database_sync_to_async(measurement_stop)(
                    assessment_id=self.assessment.pk,
                    actor=self.user,
                    measurement_uuid=frame.get("measurement"),
                    why=why if isinstance(why, str) else "?",
                    now=timezone.now(),
                )
            else:
                await self._error("bad_field", "“action” must be start or stop.")
        except (ValueRefused, AssessmentError) as error:
            await self._send({"type": "measurement", "state": "refused", "message": error.message})

    async def _on_accept(self, frame: dict[str, Any]) -> None:
        try:
            accepted = await database_sync_to_async(measurement_accept)(
                assessment_id=self.assessment.pk,
                actor=self.user,
                measurement_uuid=frame.get("measurement"),
                context=self.context,
                now=timezone.now(),
            )
        except (ValueRefused, AssessmentError) as error:
            await self._send({"type": "measurement", "state": "refused", "message": error.message})
            return
        await self._send(
            {
                "type": "accepted",
                "measurement": frame.get("measurement"),
                "values": [value.as_frame() for value in accepted.values],
                "refused": [
                    {"trial": trial, "message": message} for trial, message in accepted.refused
                ],
                "model": accepted.model,
                "version": accepted.version,
            }
        )

    # --- Events from the channel layer -------------------------------------------------------

    async def assessment_measurement(self, event: dict[str, Any]) -> None:
        await self._send({**event, "type": "measurement"})

    async def assessment_roll_call(self, event: dict[str, Any]) -> None:
        """A measurement's media worker asks whether a panel is still open: this one is."""
        await self._present(event["measurement"], event["reply_to"])

    async def _present(self, measurement: str, worker: str) -> None:
        await self.channel_layer.send(worker, {"type": "media.present", "measurement": measurement})

    async def assessment_value(self, event: dict[str, Any]) -> None:
        await self._send({**event, "type": "value"})

    async def assessment_step(self, event: dict[str, Any]) -> None:
        # The window that opened the step shows it already.
        if event.get("origin") != self.channel_name:
            await self._send({"type": "step", "protocol": event["protocol"]})

    async def assessment_findings(self, event: dict[str, Any]) -> None:
        # Derived and rendered once by the save that changed them (services._findings_push).
        await self._send({"type": "findings", "revision": event["revision"], "html": event["html"]})

    async def assessment_locked(self, event: dict[str, Any]) -> None:
        await self._send({"type": "locked"})

    # --- Helpers -----------------------------------------------------------------------------

    @database_sync_to_async
    def _assessment(self, assessment_uuid: UUID, user: Any) -> Assessment | None:
        # Who may write: the selector's rule, the same as the panel's pages.
        try:
            return assessment_get_for_writer(writer=user, assessment_uuid=assessment_uuid)
        except Http404:
            return None

    @database_sync_to_async
    def _state(self) -> dict[str, Any]:
        # Read again: the state is sent at each (re)connection, after changes by others.
        assessment = assessment_fresh(self.assessment)
        rows = assessment_values(assessment)
        return {
            "type": "state",
            "status": assessment.status,
            "step": assessment.current_protocol,
            "values": [
                saved_value(row, address, saved=True).as_frame() for address, row in rows.items()
            ],
            # A page back from a dropped connection may have missed findings pushed meanwhile.
            "findings": findings_so_far(assessment).as_frame(),
            "measurements": panel_measurements(assessment_id=assessment.pk, now=timezone.now()),
            # Not sent: where the running measurements' workers are.
            "workers": measurement_workers(assessment_id=assessment.pk),
        }
