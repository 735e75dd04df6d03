"""Recording who saw or changed a client's record, and from where."""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest

from clinic.models import AuditAction, AuditEvent, Client, User


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from. Services take it so that they can audit without a request."""

    ip_address: str | None = None
    user_agent: str = ""
    path: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> "RequestContext":
        return cls(
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
            path=request.get_full_path()[:500],
        )


SYSTEM = RequestContext(path="system")


def client_ip(request: HttpRequest) -> str | None:
    """The address of the browser, trusting exactly NUM_PROXIES proxies in front of us."""
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.NUM_PROXIES:
        forwarded = [
            part.strip()
            for part in request.headers.get("X-Forwarded-For", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= settings.NUM_PROXIES:
            candidate = forwarded[-settings.NUM_PROXIES]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _event(
    *,
    actor: User | None,
    action: AuditAction,
    object_type: str,
    object_uuid: UUID | None,
    client: Client | None,
    context: RequestContext,
    changes: Iterable[str] = (),
) -> AuditEvent:
    authenticated = actor is not None and actor.is_authenticated
    return AuditEvent(
        actor=actor if authenticated else None,
        actor_email=actor.email if authenticated else "",
        action=action,
        object_type=object_type,
        object_uuid=object_uuid,
        client=client,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        path=context.path,
        changes=sorted(changes),
    )


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    object_type: str,
    object_uuid: UUID | None,
    client: Client | None,
    context: RequestContext,
    changes: Iterable[str] = (),
) -> AuditEvent:
    event = _event(
        actor=actor,
        action=action,
        object_type=object_type,
        object_uuid=object_uuid,
        client=client,
        context=context,
        changes=changes,
    )
    event.save()
    return event


class ClientRecordPart(Protocol):
    """An object of a client's record: an assessment, a plan."""

    uuid: UUID
    client: Client


def audit_record_of(
    part: ClientRecordPart,
    object_type: str,
    *,
    actor: User | None,
    action: AuditAction,
    context: RequestContext,
    changes: Iterable[str] = (),
) -> AuditEvent:
    """``audit_record`` for an object of a client's record."""
    return audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        object_uuid=part.uuid,
        client=part.client,
        context=context,
        changes=changes,
    )


@dataclass(frozen=True)
class AuditSubject:
    """One object of a client's record that a page showed or changed."""

    object_type: str
    object_uuid: UUID
    client: Client


def audit_record_many(
    *,
    actor: User | None,
    action: AuditAction,
    subjects: Iterable[AuditSubject],
    context: RequestContext,
    changes: Iterable[str] = (),
) -> list[AuditEvent]:
    """One row per subject in one INSERT: a list page audits every client it shows."""
    changes = sorted(changes)
    return AuditEvent.objects.bulk_create(
        _event(
            actor=actor,
            action=action,
            object_type=subject.object_type,
            object_uuid=subject.object_uuid,
            client=subject.client,
            context=context,
            changes=changes,
        )
        for subject in subjects
    )
