"""A real SMTP server on loopback that keeps what it receives, for tests to read back."""

import asyncio
import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """What the server received. Tests can slow it down or make it refuse recipients:

    - ``delay``: seconds the server takes to answer RCPT TO and, after it has queued a message,
      to answer the end of DATA (a real server queues the message when its data ends, then
      replies; a client that disconnects before the reply does not unsend it);
    - ``refuse_recipient[address]``: the reply to RCPT TO for that address (e.g. "550 …");
    - ``refuse_data[address]``: the reply at the end of DATA for a message to that address.

    ``clear()`` (run before every test) resets all of them. ``envelopes`` are the envelope
    sender and recipients (MAIL FROM, RCPT TO) of each message, in the order of ``messages``;
    ``refused`` the address and reply of every recipient refused, in order (each attempt).
    """

    def __init__(self) -> None:
        self._messages: list[EmailMessage] = []
        self._envelopes: list[tuple[str, list[str]]] = []
        self._refused: list[tuple[str, str]] = []
        # Every RCPT TO received, before the delay: a sender is mid-send from then on.
        self._asked: list[str] = []
        self._lock = threading.Lock()
        self.delay = 0.0
        self.refuse_recipient: dict[str, str] = {}
        self.refuse_data: dict[str, str] = {}

    async def handle_RCPT(
        self, server: object, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        with self._lock:
            self._asked.append(address)
        if self.delay:
            await asyncio.sleep(self.delay)
        if address in self.refuse_recipient:
            with self._lock:
                self._refused.append((address, self.refuse_recipient[address]))
            return self.refuse_recipient[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self._messages.append(message)
            self._envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self._lock:
            return list(self._envelopes)

    @property
    def asked(self) -> list[str]:
        """The recipient of every RCPT TO received (each attempt), in order."""
        with self._lock:
            return list(self._asked)

    @property
    def refused(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._refused)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._envelopes.clear()
            self._refused.clear()
            self._asked.clear()
        self.delay = 0.0
        self.refuse_recipient.clear()
        self.refuse_data.clear()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def wait_for(
        self, count: int, *, to: str | None = None, timeout: float = 20
    ) -> list[EmailMessage]:
        """The messages once at least ``count`` have arrived (for emails sent by a worker)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(to) if to else self.messages
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} emails{' to ' + to if to else ''}, got {len(found)}"
                )
            time.sleep(0.05)


class SMTPServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
