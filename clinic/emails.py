"""Building the clinic's emails (every email has a plain-text and an HTML part), and sending
those owed about a change (``OutgoingEmail`` rows) once, however their tasks fare."""

import datetime as dt
import logging
import smtplib
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string

from clinic.models import OutgoingEmail

logger = logging.getLogger(__name__)
E = TypeVar("E", bound=OutgoingEmail)


def email_build(
    *,
    to: list[str],
    template: str,
    context: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> EmailMultiAlternatives:
    """Render ``templates/emails/<template>_{subject,body}.txt`` and ``<template>_body.html``."""
    context = {"clinic_name": settings.CLINIC_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    text = render_to_string(f"emails/{template}_body.txt", context)
    html = render_to_string(f"emails/{template}_body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers=dict(headers or {}),
    )
    message.attach_alternative(html, "text/html")
    return message


# --- Emails owed about a change (OutgoingEmail rows) -------------------------------------------

# A task queued after the change has had this long (with its own retries, about a minute) before
# the sweep queues the email again; then 10, 20 and 40 minutes, and every hour.
RESEND_AFTER = dt.timedelta(minutes=5)
RESEND_AT_MOST_EVERY = dt.timedelta(hours=1)
RESEND_BATCH = 200


class Delivery(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    NOT_NEEDED = "no longer needed"
    REFUSED = "refused for good"


def _refused_for_good(error: smtplib.SMTPRecipientsRefused) -> bool:
    return all(code >= 500 for code, _ in error.recipients.values())


def outgoing_email_send(
    emails: QuerySet[E], *, build: Callable[[E], EmailMessage | None], now: dt.datetime
) -> Delivery:
    """Send the email ``emails`` selects unless it went out already; ``build`` makes it, or
    returns None when a newer change made it pointless.

    The row stays locked from the check to the mark, so copies of the task (the sweep's, or a
    redelivery by the broker) take turns, and the later ones find it sent. It is marked sent
    once the mail server accepted it, so a worker lost after that acceptance and before the
    mark's commit is the only way an email goes twice (the sweep sends it again rather than
    lose it). A failed attempt raises, for the task to retry, unless the server refused the
    address for good (5xx), which is kept.
    """
    with transaction.atomic():
        email = emails.select_for_update(of=("self",)).first()
        if email is None:
            return Delivery.NOT_NEEDED
        if email.sent_at is not None:
            return Delivery.ALREADY_SENT
        if email.failed_at is not None:
            return Delivery.REFUSED
        message = build(email)
        if message is None:
            return Delivery.NOT_NEEDED
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as error:
            if not _refused_for_good(error):
                raise
            email.failed_at = now
            email.failure = "; ".join(
                f"{address}: {code} {reply.decode(errors='replace')}"
                for address, (code, reply) in error.recipients.items()
            )[:500]
            email.save(update_fields=["failed_at", "failure"])
            logger.warning(
                "%s %s refused for good: %s", type(email).__name__, email.pk, email.failure
            )
            return Delivery.REFUSED
        email.sent_at = now
        email.save(update_fields=["sent_at"])
    return Delivery.SENT


def outgoing_emails_resend(
    emails: QuerySet[E], *, queue: Callable[[E], None], now: dt.datetime
) -> list[E]:
    """Queue again (``queue``, after this commit) the emails of ``emails`` that are neither
    sent nor refused and whose time to try again has come, and set their next time. The
    caller's ``emails`` leaves out those no longer worth sending. A row a task is sending
    right now is locked and skipped."""
    with transaction.atomic():
        due = list(
            emails.filter(sent_at=None, failed_at=None, retry_at__lte=now)
            .select_for_update(of=("self",), skip_locked=True)
            .order_by("retry_at", "pk")[:RESEND_BATCH]
        )
        for email in due:
            email.resent += 1
            email.retry_at = now + min(RESEND_AFTER * 2**email.resent, RESEND_AT_MOST_EVERY)
            email.save(update_fields=["resent", "retry_at"])
            logger.warning(
                "%s %s was not sent %s after it was owed: queued again (%d)",
                type(email).__name__,
                email.pk,
                now - email.created_at,
                email.resent,
            )
            queue(email)
    return due
