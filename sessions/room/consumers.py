"""WebSocket consumers: the signaling server of a session room, and the clinician's live feed.

The consumers only authenticate, check frames and pass them on; what the frames mean for the
appointment is decided in sessions.room.
"""

import asyncio
import json
import logging
import re
from typing import Any
from uuid import UUID

import redis.exceptions
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from clinic.selectors import clinician_for_user
from sessions.booking.selectors import appointment_by_uuid
from sessions.models import Appointment, ParticipantRole
from sessions.room.services import (
    CloseCode,
    NotAdmitted,
    RoomError,
    RoomState,
    Seat,
    chat_post,
    chat_recent,
    clinician_group,
    ice_servers,
    is_polite,
    participant_role,
    room_connected,
    room_end,
    room_group,
    room_joined,
    room_left,
    room_seat_refresh,
    room_state,
)
from sessions.room.signaling import Signal, signal_check
from telehealth.sockets import (
    FrameConsumer,
    NoConnectionSweepConsumer,
    TokenBucket,
)

logger = logging.getLogger(__name__)

PAGE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MEDIA_SIGNALS = {"offer", "answer", "candidate"}


class RoomConsumer(FrameConsumer):
    """Admits the appointment's client and clinician inside the join window and relays their
    frames to each other, never to anyone else."""

    role: ParticipantRole | None = None
    # Set when a newer tab of the same person took the seat.
    replaced = False

    async def connect(self) -> None:
        # Accept first: a WebSocket refused during the handshake cannot carry a close code.
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            # Close codes go as .value: daphne (autobahn) refuses an IntEnum member.
            await self.close(code=CloseCode.UNAUTHENTICATED.value)
            return
        appointment = await self._appointment(self.scope["url_route"]["kwargs"]["appointment_uuid"])
        role = participant_role(appointment, user) if appointment else None
        if appointment is None or role is None:
            await self.close(code=CloseCode.NOT_PARTICIPANT.value)
            return
        now = timezone.now()
        if room_state(appointment, now=now) != RoomState.OPEN:
            await self.close(code=CloseCode.OUTSIDE_WINDOW.value)
            return

        self.user = user
        self.appointment = appointment
        self.role = role
        self.group = room_group(appointment.uuid)
        self.page = self._page_id()
        self.connection_state = ""
        # Measurements this client's camera feeds: the media worker of each, and candidates
        # waiting for it to answer.
        self.media_workers: dict[str, str] = {}
        self.media_pending: dict[str, list[dict[str, Any]]] = {}
        self.max_frame_bytes = settings.SIGNALING_MAX_MESSAGE_BYTES
        self.bucket = TokenBucket(
            rate=settings.SIGNALING_MESSAGES_PER_SECOND, burst=settings.SIGNALING_BURST
        )
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            # Without the channel layer nothing could reach this socket. Not joined: the seat
            # is not taken, and disconnect() has nothing to undo.
            logger.warning("Room %s: channel layer unavailable (%s)", self.group, error)
            self.role = None
            await self.close(
                code=CloseCode.TRY_AGAIN_LATER.value, reason="The room is unavailable for a moment"
            )
            return
        joined = await database_sync_to_async(room_joined)(
            appointment_id=appointment.pk,
            role=role,
            user=user,
            channel_name=self.channel_name,
            now=now,
        )
        self.admitted = joined.admitted
        self.heartbeat = asyncio.create_task(self._heartbeat())
        if joined.replaces and joined.replaces != self.channel_name:
            await self.channel_layer.send(joined.replaces, {"type": "room.replaced"})
        await self._send(
            {
                "type": "welcome",
                "role": role,
                "polite": is_polite(role),
                "admitted": joined.admitted,
                "iceServers": ice_servers(user, appointment=appointment),
            }
        )
        if joined.admitted:
            await self._send_chat_history()
        if role == ParticipantRole.CLIENT and appointment.room_prompt:
            await self._send({"type": "prompt", "prompt": appointment.room_prompt})
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "room.presence",
                "state": "joined",
                "role": role,
                "page": self.page,
                "sender": self.channel_name,
            },
        )

    async def disconnect(self, code: int) -> None:
        if self.role is None:
            return
        self.heartbeat.cancel()
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            # Redis is down (and the group with it, unless it kept its data, when the entry
            # expires): leaving must still be recorded below, and the seat given up.
            logger.warning("Room %s: left while the channel layer was unavailable", self.group)
        for measurement, worker in self.media_workers.items():
            # The client's camera connection goes with its page.
            await self.channel_layer.send(
                worker, {"type": "media.stop", "measurement": measurement, "reason": "client left"}
            )
        left = await database_sync_to_async(room_left)(
            appointment_id=self.appointment.pk,
            role=self.role,
            user=self.user,
            channel_name=self.channel_name,
            now=timezone.now(),
        )
        if left:
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "room.presence",
                    "state": "left",
                    "role": self.role,
                    "page": self.page,
                    "sender": self.channel_name,
                },
            )

    def listening(self) -> bool:
        return self.role is not None and not self.replaced

    async def on_frame(self, frame: dict[str, Any]) -> None:
        signal = signal_check(frame)
        await getattr(self, f"_on_{signal.type}")(signal)

    # --- Frames from this browser ------------------------------------------------------------

    async def _on_offer(self, signal: Signal) -> None:
        await self._relay_media(signal)

    _on_answer = _on_offer
    _on_candidate = _on_offer

    async def _relay_media(self, signal: Signal) -> None:
        if not self.admitted:
            await self._error("not_admitted", "The clinician has not let the client in yet.")
            return
        await self._relay({"type": signal.type, **signal.payload})

    async def _on_chat(self, signal: Signal) -> None:
        client_id = signal.payload["id"]
        try:
            message = await database_sync_to_async(chat_post)(
                appointment_id=self.appointment.pk,
                sender=self.user,
                role=self.role,
                body=signal.payload["body"],
                now=timezone.now(),
                client_id=client_id,
            )
        except NotAdmitted as error:
            await self._error("not_admitted", error.message, ref=client_id and str(client_id))
            return
        frame = self._chat_frame(message, name=self.user.full_name)
        # Relayed again for a resend too: the other side may have missed the first copy, and
        # its page shows each message id once.
        await self._relay(frame)
        await self._send(frame)  # the sender's receipt: the message is kept

    async def _on_ping(self, signal: Signal) -> None:
        await self._send({"type": "pong"})

    async def _on_state(self, signal: Signal) -> None:
        state = dict(signal.payload)
        action_id = state.pop("id", None)
        connection = state.get("connection")
        if connection == "connected" and self.connection_state != "connected":
            await database_sync_to_async(room_connected)(
                appointment_id=self.appointment.pk,
                role=self.role,
                user=self.user,
                now=timezone.now(),
            )
        if connection:
            self.connection_state = connection
        await self._relay({"type": "state", **state})
        await self._ack(action_id)

    async def _on_media(self, signal: Signal) -> None:
        """The client's camera for a measurement goes to the server's media peer (a media
        worker, reached over the channel layer), not to the clinician."""
        if self.role != ParticipantRole.CLIENT:
            await self._error("not_allowed", "Only the client's camera is measured.")
            return
        action, measurement = signal.payload["action"], signal.payload["id"]
        worker = self.media_workers.get(measurement)
        if action == "offer":
            await self.channel_layer.send(
                settings.MEDIA_CHANNEL,
                {
                    "type": "media.offer",
                    "measurement": measurement,
                    "sdp": signal.payload["sdp"],
                    "appointment": str(self.appointment.uuid),
                    "reply_to": self.channel_name,
                },
            )
        elif action == "candidate":
            message = {
                "type": "media.candidate",
                "measurement": measurement,
                "candidate": signal.payload["candidate"],
            }
            if worker:
                await self.channel_layer.send(worker, message)
            else:
                # Candidates can come before the worker's answer says who it is.
                self.media_pending.setdefault(measurement, []).append(message)
        elif worker:
            await self.channel_layer.send(
                worker, {"type": "media.stop", "measurement": measurement, "reason": "client"}
            )

    async def _on_bye(self, signal: Signal) -> None:
        action_id = signal.payload["id"]
        if not signal.payload["end"]:
            await self._relay({"type": "bye"})
            await self._ack(action_id)
            return
        try:
            await database_sync_to_async(room_end)(
                appointment_id=self.appointment.pk, user=self.user, now=timezone.now()
            )
        except RoomError as error:
            await self._error("not_allowed", error.message, ref=action_id)
            return
        await self._ack(action_id)

    async def _ack(self, action_id: str | None) -> None:
        """The receipt for something a person did (mute, camera, end): it was handled."""
        if action_id is not None:
            await self._send({"type": "ack", "id": action_id})

    # --- Events from the channel layer -------------------------------------------------------

    async def room_relay(self, event: dict[str, Any]) -> None:
        # Never to the sender's own role: while a newer tab takes over, both tabs of one person
        # are briefly in the group, and one tab's offers must not reach the other.
        if event["frame"]["from"] != self.role:
            await self._send(event["frame"])

    async def room_presence(self, event: dict[str, Any]) -> None:
        if event["sender"] == self.channel_name or event["role"] == self.role:
            return
        await self._send(
            {"type": "peer", "state": event["state"], "role": event["role"], "page": event["page"]}
        )
        if event["state"] == "joined":
            # Tell the newcomer that we are here too.
            await self.channel_layer.send(
                event["sender"],
                {
                    "type": "room.presence",
                    "state": "present",
                    "role": self.role,
                    "page": self.page,
                    "sender": self.channel_name,
                },
            )

    async def room_admitted(self, event: dict[str, Any]) -> None:
        self.admitted = True
        await self._send({"type": "admitted"})
        await self._send_chat_history()

    async def room_framing(self, event: dict[str, Any]) -> None:
        if self.role == ParticipantRole.CLIENT:
            await self._send({**event, "type": "framing"})

    async def room_media_answer(self, event: dict[str, Any]) -> None:
        measurement = event["id"]
        self.media_workers[measurement] = event["worker"]
        await self._send(
            {"type": "media", "action": "answer", "id": measurement, "sdp": event["sdp"]}
        )
        for message in self.media_pending.pop(measurement, []):
            await self.channel_layer.send(event["worker"], message)

    async def room_media_error(self, event: dict[str, Any]) -> None:
        self.media_pending.pop(event["id"], None)
        await self._send(
            {"type": "media", "action": "error", "id": event["id"], "message": event["message"]}
        )

    async def room_prompt(self, event: dict[str, Any]) -> None:
        # The clinician's own panel shows the step; only the client's page needs the prompt.
        if self.role == ParticipantRole.CLIENT:
            await self._send({"type": "prompt", "prompt": event["prompt"] or None})

    async def room_ended(self, event: dict[str, Any]) -> None:
        await self._send({"type": "ended"})
        await self.close(code=CloseCode.SESSION_ENDED.value)

    async def room_replaced(self, event: dict[str, Any]) -> None:
        # Out of the room at once, not when the close completes: frames this tab still has in
        # flight, or the room's frames meanwhile, belong to the newer tab.
        self.replaced = True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self._error("replaced", "This session was opened in another tab or window.")
        await self.close(code=CloseCode.REPLACED.value)

    # --- Helpers -----------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Keep this consumer's seat: one not refreshed for a while belongs to a consumer
        that died, and the beat task release-stale-seats gives it up."""
        while True:
            await asyncio.sleep(settings.ROOM_SEAT_HEARTBEAT_SECONDS)
            try:
                seat = await database_sync_to_async(room_seat_refresh)(
                    appointment_id=self.appointment.pk,
                    role=self.role,
                    channel_name=self.channel_name,
                    now=timezone.now(),
                )
            except Exception:
                # The database may be back by the next beat; the seat outlives a few misses.
                logger.exception("Refreshing a seat failed in room %s", self.group)
                continue
            if seat == Seat.GONE and not self.closing:
                # Released as stale (this process was too busy to refresh it in time): the
                # page reconnects and joins again, and the other side hears it come back.
                await self.close(code=CloseCode.SEAT_RELEASED.value)
                return
            if seat == Seat.TAKEN:
                return  # a newer tab has it and tells this one so (room.replaced)

    @staticmethod
    def _chat_frame(message: Any, *, name: str) -> dict[str, Any]:
        return {
            "type": "chat",
            "id": str(message.uuid),
            "clientId": str(message.client_id) if message.client_id else None,
            "from": message.sender_role,
            "name": name,
            "body": message.body,
            "sentAt": message.sent_at.isoformat(),
        }

    async def _send_chat_history(self) -> None:
        """The room's recent messages, which the page shows once each: what was said while
        this page's socket was down (on another process, say) is not lost to it."""
        messages = await database_sync_to_async(chat_recent)(appointment_id=self.appointment.pk)
        for message in messages:
            await self._send(
                {**self._chat_frame(message, name=message.sender.full_name), "history": True}
            )

    async def _relay(self, frame: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "room.relay",
                "sender": self.channel_name,
                "frame": {**frame, "from": self.role},
            },
        )

    def _page_id(self) -> str:
        # Each page load picks an id, so a peer can tell a reload (new page) from a reconnect.
        query = self.scope.get("query_string", b"").decode(errors="replace")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "page" and PAGE_ID.match(value):
                return value
        return "unknown"

    @database_sync_to_async
    def _appointment(self, appointment_uuid: UUID) -> Appointment | None:
        return appointment_by_uuid(appointment_uuid)


class ClinicianFeedConsumer(NoConnectionSweepConsumer):
    """Pushes changes of a clinician's appointments (a client waiting, a session ending) to
    their open dashboard. It only sends; frames from the browser are ignored."""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CloseCode.UNAUTHENTICATED.value)
            return
        clinician = await database_sync_to_async(clinician_for_user)(user)
        if clinician is None:
            await self.close(code=CloseCode.NOT_PARTICIPANT.value)
            return
        self.group = clinician_group(clinician.uuid)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def feed_appointment(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({**event, "type": "appointment"}))
