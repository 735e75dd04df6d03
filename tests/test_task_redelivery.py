"""A task whose worker process dies while it runs is run again, and running a task twice does
no harm: one sign-in link email, one plan, one booking email.

For real: a Celery worker with the prefork pool (as in production), a sign-in link requested
through the service, and the pool process SIGKILLed while it talks to the mail server (a real
SMTP server on loopback that is slow to answer, as a busy one is). The link must arrive, once.
"""

import datetime as dt
import os
import signal
import time

import pytest
from django.conf import settings
from django.utils import timezone

from assessments import tasks as assessment_tasks
from clinic.audit import RequestContext
from clinic.models import Client, SignInLink
from clinic.sign_in import sign_in_link_request
from clinic.tasks import send_sign_in_link
from sessions import tasks as session_tasks
from telehealth.celery import app as celery_app
from tests.smtp import Inbox


def test_the_sign_in_link_task_run_twice_sends_one_email(
    db, client_record: Client, inbox: Inbox
) -> None:
    link = SignInLink.objects.create(
        user=client_record.user, expires_at=timezone.now() + dt.timedelta(minutes=15)
    )
    send_sign_in_link(str(link.id))
    send_sign_in_link(str(link.id))
    assert len(inbox.to(client_record.user.email)) == 1
    link.refresh_from_db()
    assert link.emailed_at is not None


def test_every_retry_backoff_is_shorter_than_the_brokers_visibility_timeout() -> None:
    """A retry waits unacknowledged in its worker for its countdown: past the visibility
    timeout Redis would hand it to another worker as well."""
    assert session_tasks.send_appointment_email.name in celery_app.tasks
    assert assessment_tasks.send_program_email.name in celery_app.tasks
    longest = 0
    for task in celery_app.tasks.values():
        if not task.name.startswith(("clinic.", "sessions.", "assessments.")):
            continue
        if not getattr(task, "autoretry_for", ()):
            continue  # never retries: none calls self.retry itself
        if task.retry_backoff:
            factor = 1 if task.retry_backoff is True else int(task.retry_backoff)
            # Celery waits factor * 2**retries before retry number retries + 1.
            last = factor * 2 ** (task.max_retries - 1)
            longest = max(longest, min(last, getattr(task, "retry_backoff_max", 600)))
        else:
            longest = max(longest, task.default_retry_delay)
    assert longest == 32
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > longest
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_TASK_ACKS_LATE is True


@pytest.mark.django_db(transaction=True)
def test_a_pool_process_killed_mid_send_gets_the_link_sent_once_by_the_next(
    make_worker, client_record: Client, inbox: Inbox
) -> None:
    email = client_record.user.email
    worker = make_worker("prefork", pool="prefork")
    worker.start()
    (child,) = worker.pool_children()
    # The mail server takes 3 s to answer each step: the task is mid-send for seconds.
    inbox.delay = 3.0

    link = sign_in_link_request(
        email=email, next_path="", context=RequestContext(ip_address="192.0.2.7")
    )
    assert link is not None
    deadline = time.monotonic() + 20
    while email not in inbox.asked:
        assert time.monotonic() < deadline, f"the worker never began sending:\n{worker.log()}"
        time.sleep(0.02)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()
    inbox.delay = 0.2

    (message,) = inbox.wait_for(1, to=email, timeout=60)
    print(f"sent {time.monotonic() - killed_at:.1f} s after the kill")
    # The rerun's email carries the link; and no third run sends it again.
    assert "/login/link/" in message.get_body(("plain",)).get_content()
    time.sleep(2)
    assert len(inbox.to(email)) == 1
    assert inbox.asked.count(email) == 2
    link.refresh_from_db()
    assert link.emailed_at is not None
    log = worker.log()
    assert "WorkerLostError" in log
    assert child not in worker.pool_children()
