"""Telling open pages and workers about a change once it is saved: a channel-layer message sent
after the transaction commits, so that no page hears of what a rollback then undoes.

The one place for it (the room, the assessment panel and camera measurement use it). Not robust
on purpose: if Redis is down when the commit is done, the error reaches the request, which the
middleware answers with 503 (telehealth/unavailable.py); the change itself is saved, and the
pages learn of it when their sockets reconnect and read the state again.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def send_after_commit(target: str, message: dict[str, Any], *, group: bool = True) -> None:
    """Send ``message`` to the group (or, with ``group=False``, the channel) ``target``."""

    def send() -> None:
        layer = get_channel_layer()
        call = layer.group_send if group else layer.send
        async_to_sync(call)(target, message)

    transaction.on_commit(send)
