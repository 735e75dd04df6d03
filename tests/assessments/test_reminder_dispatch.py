"""Sending reminders through a real SMTP server on loopback: what is due goes once, failures
are retried with backoff and end as failed with the reason, and what no longer applies is
dropped. (The worker-level guarantees are in test_reminder_worker.py.)"""

import datetime as dt
import re
import socket

import pytest
from django.utils import timezone

from assessments.models import Reminder, ReminderKind, ReminderStatus
from assessments.programs.emails import reminder_email
from assessments.programs.reminders import (
    MAX_ATTEMPTS,
    appointment_reminders_sync,
    reminders_dispatch,
    reminders_stop,
)
from sessions.models import AppointmentStatus
from tests import factories
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan

pytestmark = pytest.mark.django_db
APPROVED = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)  # Wednesday; the program starts Thursday
FIRST_DUE = dt.datetime(2026, 6, 11, 7, tzinfo=dt.UTC)  # 08:00 in London (BST)


@pytest.fixture
def plan(clinician, library):
    client = factories.make_client(email="ana.reminders@example.org", full_name="Ana Silva")
    return make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=APPROVED
    )


def dispatch():
    return reminders_dispatch(now=timezone.now, build=reminder_email)


def first_practice(plan) -> Reminder:
    return Reminder.objects.get(plan=plan, kind=ReminderKind.PRACTICE, day=dt.date(2026, 6, 11))


def test_a_due_reminder_is_sent_once_as_a_real_email(plan, inbox, time_machine) -> None:
    time_machine.move_to(FIRST_DUE - dt.timedelta(minutes=1), tick=False)
    assert dispatch().sent == 0
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=30), tick=False)
    result = dispatch()
    assert result.sent == 1
    assert dispatch().sent == 0  # nothing twice
    reminder = first_practice(plan)
    assert reminder.status == ReminderStatus.SENT
    assert reminder.sent_at is not None
    [message] = inbox.messages
    assert (
        message["To"] == "Ana Silva <ana.reminders@example.org>" or "ana.reminders" in message["To"]
    )
    assert message["Subject"] == "Today's exercises"
    assert message["Message-ID"] == f"<reminder-{reminder.uuid}@localhost>"
    unsubscribe = message["List-Unsubscribe"].strip()
    assert re.fullmatch(r"<http://localhost:8000/reminders/[^/]+/unsubscribe/>", unsubscribe)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    names = [item.exercise.name for item in plan.phases.get(number=1).items.all()]
    for name in names:
        assert name in text
        assert name in html
    assert text.count("/program/done/") == len(names)
    # Eleven one-click pain scores, 0 to 10, in both parts.
    assert len(re.findall(r'href="http://localhost:8000/program/pain/[^"]+/"', html)) == 11
    assert len(re.findall(r"^\d+: http://localhost:8000/program/pain/", text, re.M)) == 11
    assert "<img" not in html


def test_a_refused_send_is_retried_with_backoff_then_fails_with_the_reason(
    plan, inbox, time_machine
) -> None:
    inbox.refuse_recipient["ana.reminders@example.org"] = "451 4.2.1 Mailbox busy, try later"
    moment = FIRST_DUE + dt.timedelta(seconds=5)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        time_machine.move_to(moment, tick=False)
        result = dispatch()
        reminder = first_practice(plan)
        assert reminder.attempts == attempt
        assert "451 4.2.1 Mailbox busy" in reminder.last_error
        if attempt < MAX_ATTEMPTS:
            assert result.retried >= 1
            assert reminder.status == ReminderStatus.PENDING
            waits.append(reminder.next_attempt_at - moment)
            # Not again before the backoff is over.
            time_machine.move_to(reminder.next_attempt_at - dt.timedelta(seconds=1), tick=False)
            dispatch()
            assert first_practice(plan).attempts == attempt
            moment = reminder.next_attempt_at + dt.timedelta(seconds=1)
    assert waits == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]
    reminder = first_practice(plan)
    assert reminder.status == ReminderStatus.FAILED
    assert reminder.sent_at is None
    assert not inbox.to("ana.reminders@example.org")


def test_a_permanent_refusal_fails_at_once(plan, inbox, time_machine) -> None:
    inbox.refuse_recipient["ana.reminders@example.org"] = "550 5.1.1 No such mailbox"
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)
    result = dispatch()
    reminder = first_practice(plan)
    assert reminder.status == ReminderStatus.FAILED
    assert reminder.attempts == 1
    assert "550 5.1.1 No such mailbox" in reminder.last_error
    assert result.failed == 1


def test_a_refusal_after_the_data_undoes_sent(plan, inbox, time_machine) -> None:
    # The row is marked sent before the final "."; the server refusing after it reverts that.
    inbox.refuse_data["ana.reminders@example.org"] = "452 4.3.1 Insufficient storage"
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)
    dispatch()
    reminder = first_practice(plan)
    assert reminder.status == ReminderStatus.PENDING
    assert reminder.sent_at is None
    assert reminder.attempts == 1
    assert "452 4.3.1" in reminder.last_error
    inbox.refuse_data.clear()
    time_machine.move_to(reminder.next_attempt_at + dt.timedelta(seconds=1), tick=False)
    dispatch()
    assert first_practice(plan).status == ReminderStatus.SENT
    assert len(inbox.to("ana.reminders@example.org")) == 1


def test_an_unreachable_mail_server_is_retried(plan, settings, time_machine) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = probe.getsockname()[1]  # nothing listens there
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)
    dispatch()
    reminder = first_practice(plan)
    assert reminder.status == ReminderStatus.PENDING
    assert reminder.attempts == 1
    assert "Connection refused" in reminder.last_error or "Errno" in reminder.last_error


def test_a_reminder_half_a_day_late_is_dropped_not_sent(plan, inbox, time_machine) -> None:
    time_machine.move_to(FIRST_DUE + dt.timedelta(hours=13), tick=False)
    result = dispatch()
    assert first_practice(plan).status == ReminderStatus.CANCELLED
    assert (result.sent, result.cancelled) == (0, 1)
    assert not inbox.messages
    # The next day's is still to come.
    assert Reminder.objects.filter(
        plan=plan, day=dt.date(2026, 6, 12), status=ReminderStatus.PENDING
    ).exists()


def test_stopped_reminders_are_not_sent(plan, inbox, time_machine) -> None:
    time_machine.move_to(FIRST_DUE - dt.timedelta(hours=1), tick=False)
    reminders_stop(client=plan.client, now=timezone.now())
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)
    assert dispatch().sent == 0
    assert not inbox.messages


def test_appointment_reminders_carry_the_join_link_and_follow_cancellation(
    appointment, inbox, time_machine
) -> None:
    starts = appointment.starts_at
    time_machine.move_to(starts - dt.timedelta(hours=24, minutes=10), tick=False)
    appointment_reminders_sync(now=timezone.now())
    time_machine.move_to(starts - dt.timedelta(hours=24) + dt.timedelta(seconds=10), tick=False)
    assert dispatch().sent == 1
    [message] = inbox.messages
    assert message["Subject"].startswith("Your session is tomorrow: ")
    html = message.get_body(("html",)).get_content()
    assert f"/appointments/{appointment.uuid}/join/" in html
    # Cancelled before the hour: the 1 h reminder is dropped when it comes due.
    type(appointment).objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    time_machine.move_to(starts - dt.timedelta(hours=1) + dt.timedelta(seconds=10), tick=False)
    assert dispatch().sent == 0
    assert Reminder.objects.get(kind=ReminderKind.APPOINTMENT_1H).status == ReminderStatus.CANCELLED
    assert len(inbox.messages) == 1


def test_an_international_domain_is_sent_in_idna(clinician, library, inbox, time_machine) -> None:
    client = factories.make_client(email="ana@bücher.example", full_name="Ana Bücher")
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=APPROVED
    )
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)
    assert dispatch().sent == 1
    assert first_practice(plan).status == ReminderStatus.SENT
    # What matters for delivery is the envelope: the server was asked to deliver to the
    # ASCII (IDNA) form of the domain, which every mail server accepts.
    [(_, recipients)] = inbox.envelopes
    assert recipients == ["ana@xn--bcher-kva.example"]


def test_a_reminder_that_cannot_be_built_fails_alone_and_the_rest_go_out(
    plan, inbox, time_machine
) -> None:
    broken = first_practice(plan)
    # The next day's reminder is due at the same moment, just after it.
    following = Reminder.objects.get(
        plan=plan, kind=ReminderKind.PRACTICE, day=dt.date(2026, 6, 12)
    )
    following.due_at = following.next_attempt_at = FIRST_DUE + dt.timedelta(seconds=1)
    following.save()
    time_machine.move_to(FIRST_DUE + dt.timedelta(seconds=5), tick=False)

    def build(reminder):
        if reminder.pk == broken.pk:
            raise ValueError("a template that does not render")
        return reminder_email(reminder)

    result = reminders_dispatch(now=timezone.now, build=build)
    broken.refresh_from_db()
    assert broken.status == ReminderStatus.FAILED
    assert broken.last_error == "ValueError: a template that does not render"
    # The next day's reminder, due now too, was not held up behind it.
    assert result.sent == 1
    assert (
        Reminder.objects.get(plan=plan, kind=ReminderKind.PRACTICE, day=dt.date(2026, 6, 12)).status
        == ReminderStatus.SENT
    )


def test_a_large_backlog_is_shared_between_batch_tasks(plan, inbox, settings, time_machine) -> None:
    from assessments.tasks import dispatch_reminders

    settings.REMINDER_BATCH = 2
    # Five reminders due at once (the first week's practice days).
    time_machine.move_to(dt.datetime(2026, 6, 15, 7, 0, 5, tzinfo=dt.UTC), tick=False)
    due = list(Reminder.objects.filter(status=ReminderStatus.PENDING, due_at__lte=timezone.now()))
    assert len(due) == 5
    for seconds, reminder in enumerate(due, start=1):
        # A backlog from the last minute (older ones would be dropped as stale).
        reminder.due_at = reminder.next_attempt_at = timezone.now() - dt.timedelta(seconds=seconds)
        reminder.save()
    summary = dispatch_reminders()
    assert summary["helpers"] == 2  # three batches of two for five reminders
    assert not Reminder.objects.filter(
        status=ReminderStatus.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()
    ids = [message["Message-ID"] for message in inbox.messages]
    assert len(ids) == len(set(ids)) == 5
