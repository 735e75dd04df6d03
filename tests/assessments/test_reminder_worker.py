"""Real Celery workers on Redis: plan generation after an assessment is completed, and reminder
dispatch that sends every due reminder exactly once even when a worker is killed with SIGKILL
in the middle of a batch and restarted, or when two workers run at once."""

import datetime as dt
import re
import time
from collections import Counter

import pytest
from django.utils import timezone

from assessments.models import Plan, Reminder, ReminderKind, ReminderStatus
from assessments.tasks import dispatch_reminders
from tests import factories
from tests.assessments.conftest import (
    ANKLE_AND_VALGUS,
    answered_findings,
    completed_assessment,
    make_plan,
)
from tests.smtp import Inbox

pytestmark = pytest.mark.django_db(transaction=True)
REMINDERS = 120
CLIENT_EMAIL = "ana.worker@example.org"


def backlog(clinician, inbox: Inbox, count: int) -> list[Reminder]:
    """``count`` weekly check-ins of one approved program, all due now (a minute's backlog)."""
    client = factories.make_client(email=CLIENT_EMAIL, full_name="Ana Worker")
    now = timezone.now()
    plan = make_plan(
        client=client,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=now - dt.timedelta(days=3),
    )
    Reminder.objects.filter(plan=plan).update(status=ReminderStatus.CANCELLED)
    today = now.date()
    inbox.clear()  # the program email of the approval
    return Reminder.objects.bulk_create(
        Reminder(
            client=client,
            plan=plan,
            kind=ReminderKind.WEEKLY_CHECK_IN,
            day=today,
            due_at=now - dt.timedelta(seconds=number + 1),
            next_attempt_at=now - dt.timedelta(seconds=number + 1),
            created_at=now,
        )
        for number in range(count)
    )


@pytest.fixture
def due_reminders(clinician, library, inbox: Inbox) -> list[Reminder]:
    return backlog(clinician, inbox, REMINDERS)


def reminder_ids(inbox: Inbox) -> Counter:
    """How many times each reminder (by its Message-ID) reached the mail server."""
    found = Counter()
    for message in inbox.to(CLIENT_EMAIL):
        match = re.fullmatch(r"<reminder-([0-9a-f-]+)@clinic\.test>", message["Message-ID"])
        assert match, message["Message-ID"]
        found[match.group(1)] += 1
    return found


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(0.05)


def sent_count() -> int:
    return Reminder.objects.filter(status=ReminderStatus.SENT).count()


def test_a_worker_killed_mid_batch_leaves_every_reminder_sent_exactly_once(
    due_reminders, make_worker, inbox
) -> None:
    inbox.delay = 0.02  # the mail server takes a moment for each message
    worker = make_worker("first")
    worker.start(purge=True)
    dispatch_reminders.delay()
    wait_until(lambda: len(inbox.to(CLIENT_EMAIL)) >= 30, timeout=60, what="30 sent")
    worker.kill()  # SIGKILL in the middle of the batch: no shutdown, a transaction cut off
    killed_at = len(inbox.to(CLIENT_EMAIL))
    assert killed_at < REMINDERS, "the batch finished before the kill: nothing was tested"
    # Nothing counts as sent that the server does not have, and nothing was sent twice.
    assert sent_count() <= killed_at
    assert max(reminder_ids(inbox).values()) == 1

    # The next minute's beat (here: a task sent now) on a restarted worker sends the rest.
    worker.start(purge=False)
    dispatch_reminders.delay()
    wait_until(lambda: sent_count() == REMINDERS, timeout=90, what="all reminders sent")
    worker.stop()

    delivered = reminder_ids(inbox)
    assert sorted(delivered) == sorted(str(r.uuid) for r in due_reminders)
    assert set(delivered.values()) == {1}
    assert len(inbox.to(CLIENT_EMAIL)) == REMINDERS
    assert (
        not Reminder.objects.exclude(status=ReminderStatus.SENT)
        .filter(pk__in=[r.pk for r in due_reminders])
        .exists()
    )


def test_two_workers_share_a_batch_without_sending_anything_twice(
    due_reminders, make_worker, inbox
) -> None:
    inbox.delay = 0.02
    first, second = make_worker("first"), make_worker("second")
    first.start(purge=True)
    second.start(purge=False)
    dispatch_reminders.delay()
    dispatch_reminders.delay()
    wait_until(lambda: sent_count() == REMINDERS, timeout=90, what="all reminders sent")
    first.stop()
    second.stop()
    delivered = reminder_ids(inbox)
    assert len(delivered) == REMINDERS
    assert set(delivered.values()) == {1}
    # Both took part: each logged a dispatch that sent some.
    for worker in (first, second):
        sent = [int(n) for n in re.findall(r"'sent': (\d+)", worker.log())]
        assert sent, worker.log()
        assert max(sent) > 0, worker.log()


def complete_and_wait_for_the_plan(client_record, clinician, *, timeout: float) -> Plan:
    """The clinician completes an assessment; its plan, once a worker has proposed it."""
    assessment = completed_assessment(
        client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS
    )
    wait_until(
        lambda: Plan.objects.filter(assessment=assessment).exists(),
        timeout=timeout,
        what="the plan proposed by the worker",
    )
    return Plan.objects.get(assessment=assessment)


def test_completing_an_assessment_has_a_worker_propose_the_plan(
    make_worker, clinician, client_record, library
) -> None:
    worker = make_worker("plans")
    worker.start(purge=True)
    plan = complete_and_wait_for_the_plan(client_record, clinician, timeout=30)
    worker.wait_for_log("assessments.tasks.plan_generate")
    assert plan.status == "draft"
    assert answered_findings(plan) >= {"ktw_restricted:right", "lunge_valgus:right"}


def test_a_backlog_is_shared_out_in_helper_batches_across_two_workers(
    clinician, library, make_worker, inbox
) -> None:
    """The beat's fan-out: with REMINDER_BATCH 5, one minute's dispatch of 20 due reminders
    sends 5 itself and queues 3 helper batches (REMINDER_PARALLEL_TASKS 4), which the other
    worker takes while the first is busy."""
    reminders = backlog(clinician, inbox, 20)
    inbox.delay = 0.05  # long enough a batch that the second worker takes helpers meanwhile
    env = {"REMINDER_BATCH": "5", "REMINDER_PARALLEL_TASKS": "4"}
    first, second = make_worker("first", **env), make_worker("second", **env)
    first.start(purge=True)
    second.start(purge=False)
    dispatch_reminders.delay()  # one minute's beat, nothing more
    wait_until(lambda: sent_count() == 20, timeout=90, what="all 20 reminders sent")
    first.stop()
    second.stop()
    delivered = reminder_ids(inbox)
    assert sorted(delivered) == sorted(str(r.uuid) for r in reminders)
    assert set(delivered.values()) == {1}
    logs = first.log() + second.log()
    # The beat task said it queued three helpers; each helper ran once and sent its batch of 5.
    assert re.search(r"dispatch_reminders\[[^]]+\] succeeded in [^:]+: \{[^}]*'helpers': 3", logs)
    helpers = re.findall(
        r"dispatch_reminder_batch\[[^]]+\] succeeded in [^:]+: \{'sent': (\d+)", logs
    )
    assert sorted(int(sent) for sent in helpers) == [5, 5, 5]
    # Both workers took part.
    for worker in (first, second):
        assert re.search(r"'sent': [1-9]", worker.log()), worker.log()


def test_a_plan_is_proposed_while_a_reminder_backlog_is_still_being_sent(
    clinician, client_record, library, make_worker, inbox
) -> None:
    """Reminder batches have a queue of their own: a plan queued behind a minute's backlog is
    taken between two batches, not after the last one. One worker, started like the others
    (without -Q), consumes both queues."""
    backlog(clinician, inbox, 60)
    inbox.delay = 0.05  # a batch of 5 takes about half a second
    worker = make_worker("both", REMINDER_BATCH="5", REMINDER_PARALLEL_TASKS="12")
    worker.start(purge=True)
    dispatch_reminders.delay()  # sends 5 and queues 11 more batches
    wait_until(lambda: sent_count() >= 1, timeout=60, what="the first reminder sent")
    complete_and_wait_for_the_plan(client_record, clinician, timeout=60)
    still_pending = Reminder.objects.filter(status=ReminderStatus.PENDING).count()
    assert still_pending >= 20, f"the plan waited until {60 - still_pending} of 60 were sent"

    wait_until(lambda: sent_count() == 60, timeout=90, what="all 60 reminders sent")
    delivered = reminder_ids(inbox)
    assert len(delivered) == 60
    assert set(delivered.values()) == {1}
