"""Signed links in program and reminder emails: rate today's pain, tick an exercise off, and
change or stop reminders, without signing in.

Each link is signed for one purpose (a salt per kind) and expires; what it does is idempotent,
so opening it twice changes nothing.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.urls import reverse

from sessions.booking.links import absolute

PAIN_SALT = "assessments.pain"
DONE_SALT = "assessments.done"
REMINDERS_SALT = "assessments.programs.reminders"
# A day's links stay usable for a week; reminder settings for as long as reminders come.
DAY_LINK_MAX_AGE = dt.timedelta(days=7)
REMINDER_LINK_MAX_AGE = dt.timedelta(days=400)


class LinkError(Exception):
    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


def _load(token: str, *, salt: str, max_age: dt.timedelta) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkError(
            "This link has expired. Open your program page to record it instead.", expired=True
        ) from None
    except signing.BadSignature:
        raise LinkError("This link is not valid. Check that it was copied in full.") from None
    if not isinstance(payload, dict):
        raise LinkError("This link is not valid. Check that it was copied in full.")
    return payload


@dataclass(frozen=True)
class PainLink:
    plan: str
    day: dt.date
    score: int


def pain_token(*, plan_uuid: str, day: dt.date, score: int) -> str:
    return signing.dumps({"p": plan_uuid, "d": day.isoformat(), "s": score}, salt=PAIN_SALT)


def pain_url(*, plan_uuid: str, day: dt.date, score: int) -> str:
    token = pain_token(plan_uuid=plan_uuid, day=day, score=score)
    return absolute(reverse("assessments:pain_link", args=[token]))


def pain_link_read(token: str) -> PainLink:
    payload = _load(token, salt=PAIN_SALT, max_age=DAY_LINK_MAX_AGE)
    try:
        link = PainLink(
            plan=str(payload["p"]), day=dt.date.fromisoformat(payload["d"]), score=payload["s"]
        )
    except (KeyError, TypeError, ValueError):
        raise LinkError("This link is not valid. Check that it was copied in full.") from None
    if isinstance(link.score, bool) or not isinstance(link.score, int) or not 0 <= link.score <= 10:
        raise LinkError("This link is not valid. Check that it was copied in full.")
    return link


@dataclass(frozen=True)
class DoneLink:
    plan: str
    item: str
    day: dt.date


def done_url(*, plan_uuid: str, item_uuid: str, day: dt.date) -> str:
    token = signing.dumps({"p": plan_uuid, "i": item_uuid, "d": day.isoformat()}, salt=DONE_SALT)
    return absolute(reverse("assessments:done_link", args=[token]))


def done_link_read(token: str) -> DoneLink:
    payload = _load(token, salt=DONE_SALT, max_age=DAY_LINK_MAX_AGE)
    try:
        return DoneLink(
            plan=str(payload["p"]), item=str(payload["i"]), day=dt.date.fromisoformat(payload["d"])
        )
    except (KeyError, TypeError, ValueError):
        raise LinkError("This link is not valid. Check that it was copied in full.") from None


def reminders_token(*, client_uuid: str) -> str:
    return signing.dumps({"c": client_uuid}, salt=REMINDERS_SALT)


def reminders_url(*, client_uuid: str) -> str:
    return absolute(
        reverse("assessments:reminder_settings", args=[reminders_token(client_uuid=client_uuid)])
    )


def unsubscribe_url(*, client_uuid: str) -> str:
    """For the List-Unsubscribe header: a POST here stops reminders at once (RFC 8058)."""
    return absolute(
        reverse("assessments:unsubscribe", args=[reminders_token(client_uuid=client_uuid)])
    )


def reminders_link_read(token: str) -> str:
    payload = _load(token, salt=REMINDERS_SALT, max_age=REMINDER_LINK_MAX_AGE)
    client = payload.get("c")
    if not isinstance(client, str):
        raise LinkError("This link is not valid. Check that it was copied in full.")
    return client
