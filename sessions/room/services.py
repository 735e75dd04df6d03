"""The live session room: when it is open, who may enter, admission, and what happened in it."""

import base64
import datetime as dt
import hashlib
import hmac
import zoneinfo
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from clinic.models import User
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ChatMessage,
    ParticipantRole,
    RoomConnection,
    RoomEvent,
    RoomEventKind,
)
from telehealth.live import send_after_commit


class CloseCode(IntEnum):
    """WebSocket close codes of the signaling server (documented in docs/live-sessions.md)."""

    SESSION_ENDED = 4000
    UNAUTHENTICATED = 4401
    NOT_PARTICIPANT = 4403
    OUTSIDE_WINDOW = 4408
    REPLACED = 4409
    # The seat was given up after missed heartbeats; the page reconnects.
    SEAT_RELEASED = 4012
    # The channel layer (Redis) could not be reached: HTTP's 503 in the application's range
    # (daphne sends no 1013); the page reconnects.
    TRY_AGAIN_LATER = 4503


class RoomState(StrEnum):
    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


FINISHED = (
    AppointmentStatus.CANCELLED,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.NO_SHOW,
    AppointmentStatus.NOT_STARTED,
)


class RoomError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class JoinWindow:
    opens_at: dt.datetime
    closes_at: dt.datetime


def join_window(appointment: Appointment) -> JoinWindow:
    return JoinWindow(
        opens_at=appointment.starts_at - dt.timedelta(minutes=settings.ROOM_OPENS_MINUTES_BEFORE),
        closes_at=appointment.ends_at + dt.timedelta(minutes=settings.ROOM_CLOSES_MINUTES_AFTER),
    )


def room_state(appointment: Appointment, *, now: dt.datetime) -> RoomState:
    window = join_window(appointment)
    if appointment.status in FINISHED or now >= window.closes_at:
        return RoomState.CLOSED
    if now < window.opens_at:
        return RoomState.NOT_OPEN
    return RoomState.OPEN


def participant_role(appointment: Appointment, user: User) -> ParticipantRole | None:
    """The user's part in this appointment; clinic admins are not participants."""
    if not user.is_authenticated:
        return None
    if user.pk == appointment.client.user_id:
        return ParticipantRole.CLIENT
    if user.pk == appointment.clinician.user_id:
        return ParticipantRole.CLINICIAN
    return None


def is_polite(role: ParticipantRole) -> bool:
    """In perfect negotiation one side yields when both offer at once; the server decides."""
    return role == ParticipantRole.CLIENT


def room_group(appointment_uuid: UUID) -> str:
    return f"room.{appointment_uuid.hex}"


def clinician_group(clinician_uuid: UUID) -> str:
    return f"clinician.{clinician_uuid.hex}"


def _feed(appointment: Appointment) -> None:
    """Tell the clinician's open pages (dashboard, room) how the appointment stands."""
    send_after_commit(
        clinician_group(appointment.clinician.uuid),
        {
            "type": "feed.appointment",
            "appointment": str(appointment.uuid),
            "status": appointment.status,
            "status_label": appointment.get_status_display(),
            "client": appointment.client.user.full_name,
        },
    )


def _lock_query() -> QuerySet[Appointment]:
    return Appointment.objects.select_for_update(of=("self",)).select_related(
        "clinician__user", "client__user", "service"
    )


def _locked(appointment_id: int) -> Appointment:
    return _lock_query().get(pk=appointment_id)


def _event(
    appointment: Appointment,
    kind: RoomEventKind,
    *,
    now: dt.datetime,
    role: ParticipantRole | str = "",
    user: User | None = None,
    **detail: Any,
) -> RoomEvent:
    return RoomEvent.objects.create(
        appointment=appointment, kind=kind, role=role, user=user, at=now, detail=detail
    )


@dataclass(frozen=True)
class Joined:
    admitted: bool
    # The connection this one replaces (the same person's older tab), if any.
    replaces: str | None


@transaction.atomic
def room_joined(
    *,
    appointment_id: int,
    role: ParticipantRole,
    user: User,
    channel_name: str,
    now: dt.datetime,
) -> Joined:
    """Someone entered the room and takes their seat; a client not yet admitted now waits."""
    appointment = _locked(appointment_id)
    seat, created = RoomConnection.objects.get_or_create(
        appointment=appointment,
        role=role,
        defaults={"channel_name": channel_name, "connected_at": now},
    )
    replaces = None if created else seat.channel_name
    if created:
        seat.seen_at = now
        seat.save(update_fields=["seen_at"])
    else:
        seat.channel_name, seat.connected_at, seat.seen_at = channel_name, now, now
        seat.save(update_fields=["channel_name", "connected_at", "seen_at"])
    _event(appointment, RoomEventKind.JOINED, now=now, role=role, user=user)
    if (
        role == ParticipantRole.CLIENT
        and appointment.admitted_at is None
        and appointment.status == AppointmentStatus.CONFIRMED
    ):
        appointment.status = AppointmentStatus.WAITING
        appointment.save(update_fields=["status", "updated_at"])
        _feed(appointment)
    return Joined(admitted=appointment.admitted_at is not None, replaces=replaces)


@transaction.atomic
def room_left(
    *,
    appointment_id: int,
    role: ParticipantRole,
    user: User,
    channel_name: str,
    now: dt.datetime,
    reason: str = "",
) -> bool:
    """A connection closed. Returns whether its owner left (False if a newer tab took over)."""
    appointment = _lock_query().filter(pk=appointment_id).first()
    if appointment is None:  # deleted during the session (in the admin): nothing to record
        return True
    released, _ = RoomConnection.objects.filter(
        appointment=appointment, role=role, channel_name=channel_name
    ).delete()
    if not released:
        return False
    detail = {"reason": reason} if reason else {}
    _event(appointment, RoomEventKind.LEFT, now=now, role=role, user=user, **detail)
    if role == ParticipantRole.CLIENT and appointment.status == AppointmentStatus.WAITING:
        appointment.status = AppointmentStatus.CONFIRMED
        appointment.save(update_fields=["status", "updated_at"])
        _feed(appointment)
    return True


@transaction.atomic
def room_admit(*, appointment: Appointment, user: User, now: dt.datetime) -> Appointment:
    """The clinician lets the client in; admitting twice changes nothing."""
    appointment = _locked(appointment.pk)
    if participant_role(appointment, user) != ParticipantRole.CLINICIAN:
        raise RoomError("Only the appointment's clinician can let the client in.")
    if room_state(appointment, now=now) != RoomState.OPEN:
        raise RoomError("The room is not open.")
    if appointment.admitted_at is not None:
        return appointment
    appointment.admitted_at = now
    appointment.status = AppointmentStatus.IN_PROGRESS
    appointment.save(update_fields=["admitted_at", "status", "updated_at"])
    _event(appointment, RoomEventKind.ADMITTED, now=now, role=ParticipantRole.CLINICIAN, user=user)
    send_after_commit(room_group(appointment.uuid), {"type": "room.admitted"})
    _feed(appointment)
    return appointment


def room_connected(
    *, appointment_id: int, role: ParticipantRole, user: User, now: dt.datetime
) -> None:
    """A browser reports its peer connection reached "connected"."""
    RoomEvent.objects.create(
        appointment_id=appointment_id, kind=RoomEventKind.CONNECTED, role=role, user=user, at=now
    )


@transaction.atomic
def room_end(*, appointment_id: int, user: User, now: dt.datetime) -> Appointment:
    """The clinician ends the session for both sides."""
    appointment = _locked(appointment_id)
    if participant_role(appointment, user) != ParticipantRole.CLINICIAN:
        raise RoomError("Only the clinician can end the session for both.")
    if appointment.status in FINISHED:
        return appointment
    if appointment.admitted_at is None and now < (arrive_by := client_arrives_by(appointment)):
        # Ending now would record a no-show (or "not started") for a client who may still be
        # on time, and shut the room on them for good.
        clock = arrive_by.astimezone(zoneinfo.ZoneInfo(user.time_zone))
        raise RoomError(
            f"The session cannot be ended before {clock:%H:%M}: "
            f"{appointment.client.user.full_name} has until then to arrive. Let them in, or "
            "cancel the appointment if it is not going ahead."
        )
    _settle(appointment, ended_at=now)
    _event(appointment, RoomEventKind.ENDED, now=now, role=ParticipantRole.CLINICIAN, user=user)
    return appointment


def client_arrives_by(appointment: Appointment) -> dt.datetime:
    """Until then a client who has not come is late, not absent."""
    return appointment.starts_at + dt.timedelta(minutes=settings.ROOM_NO_SHOW_GRACE_MINUTES)


# Appointments whose session has not been settled yet.
UNSETTLED = (
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.WAITING,
    AppointmentStatus.IN_PROGRESS,
)


def _outcome(appointment: Appointment) -> AppointmentStatus:
    """How a session that is over is recorded, from what happened in the room.

    Not from the status alone: a client who waited and then closed the page is back to
    "confirmed", yet came; only a client who never joined the room is a no-show.
    """
    if appointment.admitted_at is not None or appointment.status == AppointmentStatus.IN_PROGRESS:
        return AppointmentStatus.COMPLETED
    client_came = (
        appointment.status == AppointmentStatus.WAITING
        or appointment.room_events.filter(
            kind=RoomEventKind.JOINED, role=ParticipantRole.CLIENT
        ).exists()
    )
    return AppointmentStatus.NOT_STARTED if client_came else AppointmentStatus.NO_SHOW


def _settle(appointment: Appointment, *, ended_at: dt.datetime) -> None:
    appointment.status = _outcome(appointment)
    appointment.ended_at = ended_at
    appointment.save(update_fields=["status", "ended_at", "updated_at"])
    # Any socket still open in the room hears that it is over.
    send_after_commit(room_group(appointment.uuid), {"type": "room.ended"})
    _feed(appointment)


def room_prompt_set(*, appointment_id: int, prompt: dict[str, Any]) -> None:
    """Show ``prompt`` on the client's room page (an empty dict clears it).

    Other apps decide what a prompt says (the guided tests send a test's instructions); the
    room only keeps the latest and passes it on, also to a client who joins later.
    """
    with transaction.atomic():
        appointment = _locked(appointment_id)
        if appointment.room_prompt == prompt:
            return
        appointment.room_prompt = prompt
        appointment.save(update_fields=["room_prompt", "updated_at"])
        send_after_commit(room_group(appointment.uuid), {"type": "room.prompt", "prompt": prompt})


class NotAdmitted(RoomError):
    """The client is still in the waiting room."""


def chat_post(
    *,
    appointment_id: int,
    sender: User,
    role: ParticipantRole,
    body: str,
    now: dt.datetime,
    client_id: UUID | str | None = None,
) -> ChatMessage:
    """Keep a chat message. A client in the waiting room cannot chat yet: the clinician's
    page would show messages from someone they have not let in (the waiting client's page
    has no chat).

    ``client_id`` is the id the sender's page chose. A page resends what it has no receipt
    for after a reconnect, and the first copy may have been kept before the connection went
    silent: the database keeps each id once per appointment, and a resend gets back the
    message already kept (the same receipt)."""
    admitted = Appointment.objects.filter(pk=appointment_id).values_list("admitted_at", flat=True)
    if role == ParticipantRole.CLIENT and list(admitted) == [None]:
        raise NotAdmitted("You can send messages once the clinician has let you in.")
    fields = {"sender": sender, "sender_role": role, "body": body, "sent_at": now}
    if client_id is None:
        return ChatMessage.objects.create(appointment_id=appointment_id, **fields)
    # ON CONFLICT DO NOTHING-like: get_or_create retries the read after an IntegrityError, so
    # two copies racing in on two processes both end with the one row.
    message, _ = ChatMessage.objects.get_or_create(
        appointment_id=appointment_id, client_id=client_id, defaults=fields
    )
    return message


def chat_recent(*, appointment_id: int, limit: int = 200) -> list[ChatMessage]:
    """The last messages of a room, oldest first: a page that reconnects may have missed some
    while its socket was down."""
    messages = (
        ChatMessage.objects.filter(appointment_id=appointment_id)
        .select_related("sender")
        .order_by("-sent_at", "-id")[:limit]
    )
    return list(reversed(messages))


class Seat(StrEnum):
    OURS = "ours"
    # A newer tab of the same person holds it.
    TAKEN = "taken"
    # Nobody holds it: released as stale while this consumer was too slow to refresh it.
    GONE = "gone"


def room_seat_refresh(
    *, appointment_id: int, role: ParticipantRole, channel_name: str, now: dt.datetime
) -> Seat:
    """The open consumer's heartbeat: its seat is still in use."""
    seats = RoomConnection.objects.filter(appointment_id=appointment_id, role=role)
    if seats.filter(channel_name=channel_name).update(seen_at=now):
        return Seat.OURS
    return Seat.TAKEN if seats.exists() else Seat.GONE


def seat_stale_after() -> dt.timedelta:
    # Three missed heartbeats: one late refresh is a busy process, three a dead one.
    return dt.timedelta(seconds=3 * settings.ROOM_SEAT_HEARTBEAT_SECONDS)


def room_seats_release_stale(*, now: dt.datetime) -> int:
    """Release the seats of consumers that died without leaving (their process was killed,
    the machine lost), as if that side had left: the client no longer shows as waiting, the
    other side hears that they left, and whoever joins next takes a free seat. Returns how
    many were released."""
    stale = RoomConnection.objects.filter(seen_at__lt=now - seat_stale_after()).select_related(
        "appointment__client__user", "appointment__clinician__user"
    )
    released = 0
    for seat in stale:
        appointment = seat.appointment
        user = (
            appointment.client.user
            if seat.role == ParticipantRole.CLIENT
            else appointment.clinician.user
        )
        with transaction.atomic():
            # Only if still this stale seat: its consumer, or a new tab, may have come back.
            if not RoomConnection.objects.filter(
                pk=seat.pk, channel_name=seat.channel_name, seen_at__lt=now - seat_stale_after()
            ).exists():
                continue
            if not room_left(
                appointment_id=appointment.pk,
                role=ParticipantRole(seat.role),
                user=user,
                channel_name=seat.channel_name,
                now=now,
                reason="no heartbeat",
            ):
                continue
            send_after_commit(
                room_group(appointment.uuid),
                {
                    "type": "room.presence",
                    "state": "left",
                    "role": seat.role,
                    "page": "unknown",
                    "sender": seat.channel_name,
                },
            )
        released += 1
    return released


def rooms_close_finished(*, now: dt.datetime) -> int:
    """Settle appointments whose room has closed without the clinician ending the session.

    Returns how many changed. An appointment is settled once, so the batch stays small.
    """
    overdue = dt.timedelta(minutes=settings.ROOM_CLOSES_MINUTES_AFTER)
    candidates = Appointment.objects.filter(
        status__in=UNSETTLED, ends_at__lte=now - overdue
    ).values_list("pk", flat=True)
    changed = 0
    for appointment_id in candidates:
        with transaction.atomic():
            appointment = _locked(appointment_id)
            if appointment.status not in UNSETTLED:  # settled meanwhile by someone else
                continue
            _settle(appointment, ended_at=join_window(appointment).closes_at)
            _event(appointment, RoomEventKind.CLOSED, now=now, outcome=appointment.status)
            changed += 1
    return changed


def ice_servers(user: User, *, appointment: Appointment) -> list[dict[str, Any]]:
    """STUN and TURN servers for one browser in ``appointment``'s room, with TURN credentials
    that expire when the room closes.

    coturn's use-auth-secret scheme: the username is "<expiry unix time>:<user id>" and the
    password is base64(HMAC-SHA1(secret, username)), so coturn can check it without a database.
    coturn also checks the expiry when a browser refreshes its relay, so the credentials must
    last the whole call, however long the service: they last exactly as long as the room.
    """
    servers: list[dict[str, Any]] = []
    if settings.WEBRTC_STUN_URLS:
        servers.append({"urls": list(settings.WEBRTC_STUN_URLS)})
    if settings.WEBRTC_TURN_URLS and settings.WEBRTC_TURN_SECRET:
        expires = int(join_window(appointment).closes_at.timestamp())
        username = f"{expires}:{user.uuid}"
        digest = hmac.new(
            settings.WEBRTC_TURN_SECRET.encode(), username.encode(), hashlib.sha1
        ).digest()
        servers.append(
            {
                "urls": list(settings.WEBRTC_TURN_URLS),
                "username": username,
                "credential": base64.b64encode(digest).decode(),
            }
        )
    return servers
