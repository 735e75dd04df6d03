"""The session room page, letting the client in, and the device check before any session."""

import zoneinfo
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic.models import Role
from clinic.pages import page_url
from sessions.booking.selectors import appointment_get_for_viewer
from sessions.models import ParticipantRole
from sessions.room.services import (
    RoomError,
    RoomState,
    join_window,
    participant_role,
    room_admit,
    room_state,
)


@require_GET
@login_required
def join(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    appointment = appointment_get_for_viewer(viewer=request.user, appointment_uuid=appointment_uuid)
    now = timezone.now()
    role = participant_role(appointment, request.user)
    state = room_state(appointment, now=now)
    context = {
        "appointment": appointment,
        "role": role,
        "state": state,
        "window": join_window(appointment),
        "now": now,
    }
    if role is None or state != RoomState.OPEN:
        return render(request, "sessions/room_closed.html", context)
    peer = appointment.clinician.user if role == ParticipantRole.CLIENT else appointment.client.user
    time_zone = zoneinfo.ZoneInfo(request.viewer_time_zone).key
    context["config"] = {
        "appointment": str(appointment.uuid),
        "role": role,
        "socketPath": f"/ws/appointments/{appointment.uuid}/room/",
        "admitUrl": reverse("sessions:room_admit", args=[appointment.uuid]),
        "peerName": peer.full_name,
        # The sender's own messages show at once, as "sending…", under their name.
        "ownName": request.user.full_name,
        "title": f"{appointment.service.name} with {peer.full_name}",
        # Chat times arriving live are written on the same clock as the page's, not the
        # browser's (which may differ from the zone in the profile).
        "timeZone": time_zone,
    }
    context["chat"] = appointment.chat_messages.select_related("sender")
    context["peer_name"] = peer.full_name
    context["time_zone"] = time_zone
    return render(request, "sessions/room.html", context)


@require_POST
@login_required
def admit(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    appointment = appointment_get_for_viewer(viewer=request.user, appointment_uuid=appointment_uuid)
    if participant_role(appointment, request.user) != ParticipantRole.CLINICIAN:
        raise PermissionDenied("Only the appointment's clinician lets the client in.")
    try:
        room_admit(appointment=appointment, user=request.user, now=timezone.now())
    except RoomError as error:
        if request.headers.get("Accept") == "application/json":
            return JsonResponse({"error": error.message}, status=409)
        return render(
            request,
            "sessions/room_closed.html",
            {"appointment": appointment, "error": error.message, "state": "error"},
            status=409,
        )
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"admitted": True})
    return redirect("sessions:join", appointment_uuid=appointment.uuid)


@require_GET
def device_check(request: HttpRequest) -> HttpResponse:
    """Camera, microphone and speakers, checked at any time without joining a room. Open to
    everyone: the link in the booking email works before the client has signed in, and the
    page holds nothing of anyone's."""
    context = {}
    if request.user.is_authenticated:
        if request.user.role == Role.CLIENT:
            context = {"back_url": page_url("client_home"), "back_label": "Back to My care"}
        else:
            context = {
                "back_url": page_url("clinician_home"),
                "back_label": "Back to your sessions",
            }
    return render(request, "sessions/device_check.html", context)
