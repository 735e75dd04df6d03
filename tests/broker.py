"""The Celery broker refusing connections, for tests of what a committed request does when the
task it queues after its commit cannot reach the broker."""

from collections.abc import Iterator
from contextlib import contextmanager

from telehealth.celery import app as celery_app
from tests.smtp import free_port


@contextmanager
def broker_refusing() -> Iterator[None]:
    """Inside the block tasks are published (not run eagerly) to a port nobody listens on,
    without retrying; after it the broker and eager mode are as they were."""
    conf = celery_app.conf
    saved = (
        conf.task_always_eager,
        conf.broker_url,
        conf.broker_transport_options,
        conf.broker_connection_max_retries,
    )
    conf.task_always_eager = False
    conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    conf.broker_transport_options = {}
    conf.broker_connection_max_retries = 0
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        yield
    finally:
        (
            conf.task_always_eager,
            conf.broker_url,
            conf.broker_transport_options,
            conf.broker_connection_max_retries,
        ) = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
