"""Calls made at the same moment from several threads, as concurrent requests would be."""

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(calls: Sequence[Callable[[], T]]) -> tuple[list[T], list[Exception]]:
    """Run every call at the same moment, each in a thread of its own and so on a database
    connection of its own (closed when it is done): what they returned and what they raised,
    each in the order they finished."""
    barrier = threading.Barrier(len(calls))
    returned: list[T] = []
    raised: list[Exception] = []
    lock = threading.Lock()

    def run(call: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout=30)
            result = call()
            with lock:
                returned.append(result)
        except Exception as error:
            with lock:
                raised.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return returned, raised
