"""The room page in its states, letting the client in, ICE servers and closing rooms."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from sessions.models import MAX_DURATION_MINUTES, Appointment, AppointmentStatus, RoomEvent
from sessions.room.services import (
    RoomError,
    RoomState,
    ice_servers,
    join_window,
    room_admit,
    room_end,
    room_joined,
    room_left,
    room_state,
    rooms_close_finished,
)
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def soon(service, clinician, client_record):
    return factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )


def room_config(response) -> dict:
    html = response.text
    start = html.index('<script id="room-config" type="application/json">') + len(
        '<script id="room-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_participants_get_the_room_with_their_role(soon, as_client, as_clinician) -> None:
    url = reverse("sessions:join", args=[soon.uuid])

    client_page = as_client.get(url)
    clinician_page = as_clinician.get(url)

    assert client_page.status_code == 200
    assert "Check your camera and microphone" in client_page.text
    assert "Go to the waiting room" in client_page.text
    assert room_config(client_page) == {
        "appointment": str(soon.uuid),
        "role": "client",
        "socketPath": f"/ws/appointments/{soon.uuid}/room/",
        "admitUrl": reverse("sessions:room_admit", args=[soon.uuid]),
        "peerName": "Maya Okafor",
        "ownName": "Ana Silva",
        "title": "Virtual assessment with Maya Okafor",
        "timeZone": "Europe/London",
    }
    assert room_config(clinician_page)["role"] == "clinician"
    assert "End session for both" in clinician_page.text
    assert "End session for both" not in client_page.text


def test_before_the_window_the_page_says_when_the_room_opens(
    service, clinician, client_record, as_client
) -> None:
    tomorrow = dt.datetime(2026, 6, 9, 9, 0, tzinfo=dt.UTC)
    appointment = factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=tomorrow
    )

    with time_machine.travel(tomorrow - dt.timedelta(hours=2), tick=False):
        response = as_client.get(reverse("sessions:join", args=[appointment.uuid]))

    assert response.status_code == 200
    assert (
        "The room opens at <strong>09:45</strong>" in response.text
    )  # 08:45 UTC, London summer time
    assert "Tuesday 9 June" in response.text
    assert "1\xa0hour, 45\xa0minutes from now" in response.text
    assert "room-config" not in response.text
    # Meanwhile the devices can be checked.
    check = reverse("sessions:device_check")
    assert f'<a href="{check}">check your camera, microphone and speakers</a>' in response.text


def test_after_the_window_the_page_says_the_room_closed(soon, as_client) -> None:
    with time_machine.travel(soon.ends_at + dt.timedelta(minutes=31)):
        response = as_client.get(reverse("sessions:join", args=[soon.uuid]))

    assert "room has closed" in response.text
    assert "room-config" not in response.text


def test_a_cancelled_appointment_has_no_room(soon, as_client) -> None:
    Appointment.objects.filter(pk=soon.pk).update(status=AppointmentStatus.CANCELLED)

    response = as_client.get(reverse("sessions:join", args=[soon.uuid]))

    assert "This appointment was cancelled" in response.text
    assert "room-config" not in response.text


def test_an_admin_sees_the_appointment_but_not_the_room(soon, as_admin) -> None:
    response = as_admin.get(reverse("sessions:join", args=[soon.uuid]))

    assert response.status_code == 200
    assert "only the client and the clinician take part" in response.text
    assert "room-config" not in response.text


def test_only_the_clinician_lets_the_client_in(
    soon, as_client, as_other_clinician, as_admin, as_stranger, as_clinician
) -> None:
    url = reverse("sessions:room_admit", args=[soon.uuid])

    assert as_client.post(url).status_code == 403
    assert as_admin.post(url).status_code == 403
    assert as_other_clinician.post(url).status_code == 404
    assert as_stranger.post(url).status_code == 302
    assert Appointment.objects.get(pk=soon.pk).admitted_at is None

    response = as_clinician.post(url, headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.json() == {"admitted": True}
    soon.refresh_from_db()
    assert soon.status == AppointmentStatus.IN_PROGRESS
    assert RoomEvent.objects.filter(appointment=soon, kind="admitted").count() == 1
    # Again changes nothing; without JavaScript the form returns to the room.
    again = as_clinician.post(url)
    assert again.status_code == 302
    assert RoomEvent.objects.filter(appointment=soon, kind="admitted").count() == 1


def test_letting_in_outside_the_window_is_refused(soon, as_clinician) -> None:
    with time_machine.travel(soon.starts_at - dt.timedelta(hours=1)):
        response = as_clinician.post(
            reverse("sessions:room_admit", args=[soon.uuid]), headers={"Accept": "application/json"}
        )

    assert response.status_code == 409
    assert response.json() == {"error": "The room is not open."}


def test_no_ice_servers_unless_configured(soon, client_record) -> None:
    assert ice_servers(client_record.user, appointment=soon) == []


@pytest.fixture
def turn(settings):
    settings.WEBRTC_STUN_URLS = ["stun:turn.example.com:3478"]
    settings.WEBRTC_TURN_URLS = [
        "turn:turn.example.com:3478?transport=udp",
        "turns:turn.example.com:5349",
    ]
    settings.WEBRTC_TURN_SECRET = "north-sea-shared-secret"
    return settings


def test_turn_credentials_follow_coturns_shared_secret_scheme(soon, client_record, turn) -> None:
    stun, relay = ice_servers(client_record.user, appointment=soon)

    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    expiry, user_id = relay["username"].split(":")
    assert expiry.isdigit()
    assert user_id == str(client_record.user.uuid)
    expected = base64.b64encode(
        hmac.new(b"north-sea-shared-secret", relay["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert relay["credential"] == expected
    assert relay["urls"] == turn.WEBRTC_TURN_URLS


@pytest.mark.parametrize("duration", [45, MAX_DURATION_MINUTES])
def test_turn_credentials_last_until_the_room_closes(
    service, clinician, client_record, turn, duration
) -> None:
    # However long the service, and however early the client joins: coturn refuses to
    # refresh a relay whose credentials expired, which would cut the call off.
    service.duration_minutes = duration
    service.save()
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
    )

    _, relay = ice_servers(client_record.user, appointment=appointment)

    expiry = dt.datetime.fromtimestamp(int(relay["username"].split(":")[0]), tz=dt.UTC)
    assert expiry == join_window(appointment).closes_at


def test_rooms_that_closed_are_settled_once(
    service, clinician, other_clinician, client_record, other_client_record
) -> None:
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    never_came = factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=start
    )
    waited = factories.make_appointment(
        service=service, clinician=other_clinician, client=other_client_record, starts_at=start
    )
    happened = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=other_client_record,
        starts_at=start + dt.timedelta(hours=1),
    )
    upcoming = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now() + dt.timedelta(hours=2),
    )
    Appointment.objects.filter(pk=waited.pk).update(status=AppointmentStatus.WAITING)
    Appointment.objects.filter(pk=happened.pk).update(
        status=AppointmentStatus.IN_PROGRESS, admitted_at=start
    )

    assert rooms_close_finished(now=timezone.now()) == 3
    assert rooms_close_finished(now=timezone.now()) == 0

    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses[never_came.pk] == AppointmentStatus.NO_SHOW
    assert statuses[waited.pk] == AppointmentStatus.NOT_STARTED
    assert statuses[happened.pk] == AppointmentStatus.COMPLETED
    assert statuses[upcoming.pk] == AppointmentStatus.CONFIRMED
    assert RoomEvent.objects.filter(kind="closed").count() == 3
    never_came.refresh_from_db()
    assert never_came.ended_at == never_came.ends_at + dt.timedelta(minutes=30)


def test_a_client_who_came_and_left_unadmitted_is_not_a_no_show(
    service, clinician, client_record
) -> None:
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    appointment = factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=start
    )
    # Ana waited ten minutes in the waiting room, then closed the page; nobody let her in.
    room_joined(
        appointment_id=appointment.pk,
        role="client",
        user=client_record.user,
        channel_name="ana",
        now=start,
    )
    room_left(
        appointment_id=appointment.pk,
        role="client",
        user=client_record.user,
        channel_name="ana",
        now=start + dt.timedelta(minutes=10),
    )
    assert Appointment.objects.get(pk=appointment.pk).status == AppointmentStatus.CONFIRMED

    assert rooms_close_finished(now=timezone.now()) == 1

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NOT_STARTED
    assert appointment.get_status_display() == "Not started"


@pytest.mark.parametrize(
    ("client_came", "outcome"),
    [(False, AppointmentStatus.NO_SHOW), (True, AppointmentStatus.NOT_STARTED)],
    ids=["never-came", "waiting"],
)
def test_a_session_nobody_was_let_into_cannot_be_ended_before_the_grace_period(
    soon, clinician, client_record, settings, client_came, outcome
) -> None:
    settings.ROOM_NO_SHOW_GRACE_MINUTES = 10
    if client_came:
        room_joined(
            appointment_id=soon.pk,
            role="client",
            user=client_record.user,
            channel_name="ana",
            now=soon.starts_at - dt.timedelta(minutes=2),
        )
    status_before = Appointment.objects.get(pk=soon.pk).status

    for too_early in (
        soon.starts_at - dt.timedelta(minutes=5),
        soon.starts_at + dt.timedelta(minutes=9, seconds=59),
    ):
        with pytest.raises(RoomError) as refused:
            room_end(appointment_id=soon.pk, user=clinician.user, now=too_early)
        # On Maya's clock (Europe/London): the start plus ten minutes.
        local_start = soon.starts_at.astimezone(zoneinfo.ZoneInfo("Europe/London"))
        until = (local_start + dt.timedelta(minutes=10)).strftime("%H:%M")
        assert refused.value.message == (
            f"The session cannot be ended before {until}: Ana Silva has until then to "
            "arrive. Let them in, or cancel the appointment if it is not going ahead."
        )
        assert Appointment.objects.get(pk=soon.pk).status == status_before
        assert room_state(Appointment.objects.get(pk=soon.pk), now=too_early) == RoomState.OPEN

    ended = room_end(
        appointment_id=soon.pk,
        user=clinician.user,
        now=soon.starts_at + dt.timedelta(minutes=10),
    )
    assert ended.status == outcome


def test_a_session_under_way_can_be_ended_before_its_planned_start(
    soon, clinician, client_record
) -> None:
    early = soon.starts_at - dt.timedelta(minutes=5)
    room_admit(appointment=soon, user=clinician.user, now=early)

    ended = room_end(appointment_id=soon.pk, user=clinician.user, now=early)

    assert ended.status == AppointmentStatus.COMPLETED


def test_the_waiting_client_and_admission_follow_the_status(soon, clinician, client_record) -> None:
    now = timezone.now()
    joined = room_joined(
        appointment_id=soon.pk, role="client", user=client_record.user, channel_name="c1", now=now
    )
    assert joined.admitted is False
    assert Appointment.objects.get(pk=soon.pk).status == AppointmentStatus.WAITING

    room_admit(appointment=soon, user=clinician.user, now=now)
    rejoined = room_joined(
        appointment_id=soon.pk, role="client", user=client_record.user, channel_name="c2", now=now
    )

    assert rejoined.admitted is True
    assert rejoined.replaces == "c1"
    assert Appointment.objects.get(pk=soon.pk).status == AppointmentStatus.IN_PROGRESS
