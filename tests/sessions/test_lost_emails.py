"""No booking email is lost and none turns a committed change into an error: when the task
cannot reach the broker after the commit, or the mail server keeps refusing until the task's
retries run out, the booking, new time or cancellation still succeeds, and beat's sweep sends
the email a few minutes later, once. An email that went out is never sent again.

These tests commit for real (transactional), so the on-commit queueing runs inside the request
as it does in production; tasks run eagerly unless the broker is refusing connections."""

import datetime as dt
import threading
import time

import icalendar
import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from time_machine import escape_hatch

from clinic.emails import RESEND_AFTER
from sessions.booking.links import manage_token
from sessions.models import Appointment, AppointmentEmail, AppointmentStatus
from sessions.tasks import resend_appointment_emails, send_appointment_email
from telehealth.celery import app as celery_app
from tests.broker import broker_refusing
from tests.conftest import MONDAY_MORNING, minutes_later, signed_in
from tests.factories import make_admin
from tests.sessions.booking_helpers import booking_data, details_url, iso
from tests.smtp import Inbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Published the day before the frozen Monday: monday_morning, autouse, sets the clock first.
    pytest.mark.usefixtures("consent_documents"),
]

TUESDAY_TEN_LONDON = dt.datetime(2026, 6, 9, 9, 0, tzinfo=dt.UTC)
WEDNESDAY_TWO_LONDON = dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)
CARLA = "carla@example.org"
QUEUEING = "queueing sessions.tasks.send_appointment_email"


@pytest.fixture(autouse=True)
def monday_morning(time_machine) -> None:
    time_machine.move_to(MONDAY_MORNING, tick=False)


def book(as_stranger, service, clinician):
    return as_stranger.post(details_url(service, clinician), booking_data(TUESDAY_TEN_LONDON))


def calendar_method(message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_content())["METHOD"]


def test_booking_while_the_broker_is_down_is_confirmed_and_both_emails_follow_once(
    as_stranger, service, clinician, inbox: Inbox, caplog, time_machine
) -> None:
    with broker_refusing():
        response = book(as_stranger, service, clinician)

    # The client sees their confirmation, not an error page that would make them book again
    # (and be told their own time is taken).
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:book_confirmed", args=[appointment.uuid])
    assert "Tuesday 9 June 2026, 10:00" in as_stranger.get(response["Location"]).text
    assert caplog.text.count(QUEUEING) == 2
    assert inbox.messages == []

    # Within the first minutes the task may still be on its way: the sweep leaves it.
    minutes_later(time_machine, RESEND_AFTER.total_seconds() / 60 - 0.5)
    assert resend_appointment_emails() == {"queued": 0}
    minutes_later(time_machine, 1)
    assert resend_appointment_emails() == {"queued": 2}
    [to_client] = inbox.to(CARLA)
    assert to_client["Subject"] == "Booked: Virtual assessment on Tue 9 Jun, 10:00"
    [to_clinician] = inbox.to(clinician.user.email)
    assert to_clinician["Subject"] == "New booking: Carla Nunes, Tue 9 Jun, 10:00"

    # Sent is sent: no later minute sends them again.
    for _ in range(3):
        minutes_later(time_machine, 30)
        assert resend_appointment_emails() == {"queued": 0}
    assert len(inbox.messages) == 2


@pytest.mark.parametrize(
    ("change", "subject", "method"),
    [("reschedule", "New time: ", "REQUEST"), ("cancel", "Cancelled: ", "CANCEL")],
)
def test_a_change_while_the_broker_is_down_succeeds_and_its_email_follows_once(
    change, subject, method, as_stranger, service, clinician, inbox: Inbox, caplog, time_machine
) -> None:
    assert book(as_stranger, service, clinician).status_code == 302
    appointment = Appointment.objects.get()
    assert len(inbox.messages) == 2
    inbox.clear()
    token = manage_token(appointment)

    with broker_refusing():
        if change == "reschedule":
            response = as_stranger.post(
                reverse("sessions:manage_reschedule", args=[token]),
                {"start": iso(WEDNESDAY_TWO_LONDON), "confirm": "yes"},
            )
        else:
            response = as_stranger.post(
                reverse("sessions:manage_cancel", args=[token]), {"reason": "Feeling better"}
            )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.sequence == 1
    if change == "reschedule":
        assert appointment.starts_at == WEDNESDAY_TWO_LONDON
    else:
        assert appointment.status == AppointmentStatus.CANCELLED
    assert caplog.text.count(QUEUEING) == 2
    assert inbox.messages == []

    minutes_later(time_machine, 6)
    assert resend_appointment_emails() == {"queued": 2}
    for address in (CARLA, clinician.user.email):
        [message] = inbox.to(address)
        assert calendar_method(message) == method
    assert inbox.to(CARLA)[0]["Subject"].startswith(subject)
    minutes_later(time_machine, 30)
    assert resend_appointment_emails() == {"queued": 0}
    assert len(inbox.messages) == 2


def test_a_mail_server_refusing_until_the_retries_run_out_gets_the_email_later_once(
    as_stranger, service, clinician, inbox: Inbox, caplog, time_machine, retries_run_out
) -> None:
    inbox.refuse_recipient[CARLA] = "451 4.3.0 Mailbox busy, try again later"

    response = book(as_stranger, service, clinician)

    assert response.status_code == 302
    assert Appointment.objects.exists()
    # The task tried seven times (six retries) and gave up; the clinician's email went.
    assert inbox.refused == [(CARLA, "451 4.3.0 Mailbox busy, try again later")] * 7
    assert "SMTPRecipientsRefused" in caplog.text
    assert inbox.to(CARLA) == []
    assert len(inbox.to(clinician.user.email)) == 1

    inbox.refuse_recipient.clear()
    minutes_later(time_machine, 6)
    assert resend_appointment_emails() == {"queued": 1}
    [message] = inbox.to(CARLA)
    assert message["Subject"].startswith("Booked: ")
    assert len(inbox.to(clinician.user.email)) == 1
    minutes_later(time_machine, 30)
    assert resend_appointment_emails() == {"queued": 0}
    assert len(inbox.messages) == 2


def test_the_sweep_tries_again_less_and_less_often_while_the_mail_server_refuses(
    as_stranger, service, clinician, inbox: Inbox, time_machine
) -> None:
    inbox.refuse_recipient[CARLA] = "451 4.3.0 Try again later"
    assert book(as_stranger, service, clinician).status_code == 302
    tries = []
    start = timezone.now()
    for minute in range(1, 4 * 60):
        time_machine.move_to(start + dt.timedelta(minutes=minute), tick=False)
        if resend_appointment_emails() == {"queued": 1}:
            tries.append(minute)
    # 5, 10, 20, 40 minutes apart, then every hour.
    assert tries[:6] == [5, 15, 35, 75, 135, 195]
    inbox.refuse_recipient.clear()
    time_machine.move_to(start + dt.timedelta(minutes=255), tick=False)
    assert resend_appointment_emails() == {"queued": 1}
    assert len(inbox.to(CARLA)) == 1


def test_an_address_the_mail_server_refuses_for_good_is_not_tried_again(
    as_stranger, service, clinician, inbox: Inbox, caplog, time_machine
) -> None:
    inbox.refuse_recipient[CARLA] = "550 5.1.1 No such user"

    assert book(as_stranger, service, clinician).status_code == 302

    # Refused once: retrying cannot help; the reason is kept and logged.
    assert inbox.refused == [(CARLA, "550 5.1.1 No such user")]
    email = AppointmentEmail.objects.get(recipient="client")
    assert email.sent_at is None
    assert "550 5.1.1 No such user" in email.failure
    assert email.failed_at == timezone.now()
    assert "550 5.1.1 No such user" in caplog.text
    assert len(inbox.to(clinician.user.email)) == 1
    minutes_later(time_machine, 60)
    assert resend_appointment_emails() == {"queued": 0}
    assert len(inbox.refused) == 1

    # Staff can see that the client was never reached, and why, on the appointment's page.
    page = signed_in(make_admin(email="head@clinic.example", full_name="Head")).get(
        reverse("admin:virtual_sessions_appointment_change", args=[email.appointment_id])
    )
    assert page.status_code == 200
    assert "550 5.1.1 No such user" in page.content.decode()


def test_emails_that_went_out_are_never_sent_again(
    as_stranger, service, clinician, inbox: Inbox, time_machine
) -> None:
    assert book(as_stranger, service, clinician).status_code == 302
    assert len(inbox.messages) == 2
    appointment = Appointment.objects.get()
    assert set(appointment.emails.values_list("recipient", "sequence", "event")) == {
        ("client", 0, "booked"),
        ("clinician", 0, "booked"),
    }
    assert all(email.sent_at == timezone.now() for email in appointment.emails.all())

    for _ in range(4):
        minutes_later(time_machine, 10)
        assert resend_appointment_emails() == {"queued": 0}
    # A task delivered twice by the broker (a worker lost after sending) sends nothing more.
    assert send_appointment_email(appointment.pk, "booked", 0, "client") == "already sent"
    assert len(inbox.messages) == 2


def test_a_lost_email_about_a_time_since_changed_or_past_is_not_sent(
    as_stranger, service, clinician, inbox: Inbox, time_machine
) -> None:
    with broker_refusing():
        assert book(as_stranger, service, clinician).status_code == 302
    appointment = Appointment.objects.get()
    # Rescheduled before the sweep came: the "new time" emails carry the whole invitation, so
    # the lost "booked" ones are not sent after them.
    response = as_stranger.post(
        reverse("sessions:manage_reschedule", args=[manage_token(appointment)]),
        {"start": iso(WEDNESDAY_TWO_LONDON), "confirm": "yes"},
    )
    assert response.status_code == 302
    assert {m["Subject"].split(":")[0] for m in inbox.messages} == {"New time", "Moved"}
    minutes_later(time_machine, 6)
    assert resend_appointment_emails() == {"queued": 0}
    assert len(inbox.messages) == 2

    # And an email lost about an appointment that has started helps nobody.
    inbox.clear()
    with broker_refusing():
        response = as_stranger.post(
            reverse("sessions:manage_cancel", args=[manage_token(appointment)]), {}
        )
    assert response.status_code == 302
    time_machine.move_to(WEDNESDAY_TWO_LONDON, tick=False)
    assert resend_appointment_emails() == {"queued": 0}
    assert inbox.messages == []


def is_locked(email: AppointmentEmail) -> bool:
    with transaction.atomic():
        free = AppointmentEmail.objects.select_for_update(skip_locked=True).filter(pk=email.pk)
        return not free.exists()


def wait_until(predicate, *, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.02)


def test_a_slow_task_and_a_late_copy_of_it_send_the_email_once(
    as_stranger, service, clinician, inbox: Inbox, time_machine
) -> None:
    """The sweep queued the email again while the first task was still sending it (a busy
    worker): the second waits for the first's row lock, then finds it sent."""
    with broker_refusing():
        assert book(as_stranger, service, clinician).status_code == 302
    appointment = Appointment.objects.get()
    minutes_later(time_machine, 6)
    inbox.delay = 0.5  # the mail server takes a second for the message
    results = []

    def run_task() -> None:
        try:
            results.append(send_appointment_email(appointment.pk, "booked", 0, "client"))
        finally:
            connection.close()

    threads = [threading.Thread(target=run_task) for _ in range(2)]
    for thread in threads:
        thread.start()
    to_client = AppointmentEmail.objects.get(recipient="client")
    wait_until(lambda: is_locked(to_client), what="a task took the client's email")
    # Meanwhile beat's sweep leaves the row being sent alone.
    assert resend_appointment_emails() == {"queued": 1}  # the clinician's, nobody has it
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == ["already sent", "sent"]
    assert len(inbox.to(CARLA)) == 1
    assert len(inbox.to(clinician.user.email)) == 1


def test_beat_on_a_real_worker_sends_the_emails_lost_while_the_broker_was_down(
    as_stranger, service, clinician, inbox: Inbox, settings, make_worker, time_machine
) -> None:
    with broker_refusing():
        assert book(as_stranger, service, clinician).status_code == 302
    # The worker runs on the real clock: back to it, with the booking as old as the sweep
    # wants it and the appointment tomorrow.
    now = dt.datetime.fromtimestamp(escape_hatch.time.time(), dt.UTC)
    time_machine.move_to(now, tick=True)
    AppointmentEmail.objects.update(retry_at=now - dt.timedelta(seconds=1))
    appointment = Appointment.objects.get()
    Appointment.objects.update(**appointment.service.appointment_times(now + dt.timedelta(days=1)))
    with make_worker("beat") as worker:
        # What beat sends every minute, by the name in the schedule.
        entry = settings.CELERY_BEAT_SCHEDULE["resend-appointment-emails"]
        celery_app.send_task(entry["task"])
        inbox.wait_for(2)
        worker.wait_for_log("'sent'", count=2)
        celery_app.send_task(entry["task"])
        worker.wait_for_log("{'queued': 0}")
    assert len(inbox.to(CARLA)) == 1
    assert len(inbox.to(clinician.user.email)) == 1
    assert AppointmentEmail.objects.filter(sent_at__isnull=False).count() == 2
