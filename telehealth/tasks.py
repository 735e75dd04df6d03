"""The base of every Celery task of the project (``telehealth.celery`` makes it the default).

A task is queued after the commit of the change it follows (``delay_on_commit``), so by then
the change is saved and the person has been told so. If the broker cannot be reached at that
moment, raising would turn a saved booking or approval into an error page (and a client who
sees one books again, to be told their own time is taken). The failure is logged instead, and
what the task was for is made up for: the rows it works from say what is still owed, and a
beat sweep queues it again (``sessions.tasks.resend_appointment_emails``,
``assessments.tasks.resend_program_emails``, ``assessments.tasks.propose_missing_plans``); a
sign-in link page tells the person to ask for a new link if none comes.
"""

from collections.abc import Callable
from typing import Any

from celery import Task
from celery.contrib.django.task import DjangoTask
from django.db import transaction

from telehealth.celery import app


class QueuedAfterCommit(DjangoTask):
    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        def queue() -> None:
            self.delay(*args, **kwargs)

        self._queue_on_commit(queue)

    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:
        def queue() -> None:
            self.apply_async(*args, **kwargs)

        self._queue_on_commit(queue)

    def _queue_on_commit(self, queue: Callable[[], None]) -> None:
        # Django logs a failed robust callback by its __qualname__: the log then names the
        # task that could not be queued ("Error calling queueing sessions.tasks.… in
        # on_commit()").
        queue.__qualname__ = f"queueing {self.name}"
        transaction.on_commit(queue, robust=True)


def task_named(name: str) -> Task:
    """The task registered as ``name``. Code that queues a task asks for it by name: the task
    calls that code's module back, and importing the task module there would make the two
    import each other (import-linter and tests/test_layers.py keep the apps free of cycles).
    The tasks modules are loaded on first use, as a worker loads them when it starts."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def queue_after_commit(name: str, *args: Any) -> None:
    """Queue the task ``name`` once the transaction commits (QueuedAfterCommit.delay_on_commit)."""
    task_named(name).delay_on_commit(*args)
