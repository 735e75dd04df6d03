"""Reminders: planning them as rows with a due time in UTC, and sending each at most once.

Times are computed from the client's chosen local time (08:00 unless they changed it) and
their IANA zone, day by day, so a reminder stays at 08:00 on their clock across daylight saving
changes. Appointment reminders (24 h and 1 h before) are kept in step with the appointments by
``appointment_reminders_sync``, which the dispatcher runs first: a rescheduled or cancelled
appointment has its reminders replaced within a minute, without the booking code knowing.

Sending: a beat task each minute claims due rows one at a time with ``SELECT … FOR UPDATE SKIP
LOCKED``, so two workers never take the same row, and holds the row's lock while it talks to
the mail server. Over SMTP the row is marked sent and committed after the whole message has
been transferred but before the final "." that makes the server accept it: a worker killed
before that commit leaves the row pending (the server drops an unfinished message) and a later
run sends it; a worker killed after it has only one line left to write. So a reminder is sent
at most once, and none is lost unless a worker dies in the microseconds between the commit and
that last line. docs/programs-and-reminders.md and docs/benchmarks.md ("Reminders")
say more.
"""

import datetime as dt
import logging
import smtplib
import socket
import time
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.db import transaction

from assessments.models import (
    APPOINTMENT_KINDS,
    DEFAULT_REMINDER_TIME,
    PROGRAM_KINDS,
    Plan,
    PlanStatus,
    Reminder,
    ReminderKind,
    ReminderPreference,
    ReminderStatus,
)
from assessments.programs.services import plan_schedule
from assessments.selectors import client_programs
from clinic.audit import RequestContext
from clinic.models import Client, User
from clinic.services import client_profile_update
from sessions.booking.slots import local_to_utc
from sessions.models import Appointment, AppointmentStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A kept SMTP connection idle longer than this is checked with NOOP before use.
IDLE_CHECK_SECONDS = 10
# After the nth failed attempt the next waits 1, 2, 4, 8 minutes.
BACKOFF = dt.timedelta(minutes=1)
APPOINTMENT_OFFSETS = {
    ReminderKind.APPOINTMENT_24H: dt.timedelta(hours=24),
    ReminderKind.APPOINTMENT_1H: dt.timedelta(hours=1),
}
# Appointments whose reminders the sync looks after: the longest offset plus a margin.
SYNC_HORIZON = dt.timedelta(hours=25)
# Reminders that could not be sent within this long after their due time are dropped: a
# "practice today" email two days late helps nobody.
STALE_AFTER = dt.timedelta(hours=12)


def preference_for(client: Client) -> ReminderPreference:
    preference, _ = ReminderPreference.objects.get_or_create(client=client)
    return preference


def reminder_time_for(client: Client) -> tuple[dt.time, bool]:
    preference = ReminderPreference.objects.filter(client=client).first()
    if preference is None:
        return DEFAULT_REMINDER_TIME, True
    return preference.local_time, preference.active


# --- Planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    kind: ReminderKind
    due_at: dt.datetime
    day: dt.date
    phase_number: int | None = None


def program_reminders(plan: Plan, *, local_time: dt.time, zone: zoneinfo.ZoneInfo) -> list[Planned]:
    """Every reminder an approved plan asks for: practice on each day with exercises planned
    (the first day of a new phase gets the phase notice instead, which lists that day's
    exercises), a weekly check-in at the end of each week with exercises, and the prompt to
    book the re-assessment. A phase left without exercises sends nothing in its weeks: a
    notice of a phase with nothing in it, or a check-in on nothing, would only confuse."""
    assert plan.starts_on is not None
    planned: list[Planned] = []
    schedule = plan_schedule(plan)
    phases = list(plan.phases.all())
    phase_starts = {phase.starts_on(plan.starts_on): phase for phase in phases[1:]}
    for day, scheduled in schedule.items():
        phase = phase_starts.get(day)
        if phase is not None and phase.pk == scheduled.phase.pk:
            planned.append(
                Planned(
                    ReminderKind.PHASE_START, local_to_utc(day, local_time, zone), day, phase.number
                )
            )
        else:
            planned.append(Planned(ReminderKind.PRACTICE, local_to_utc(day, local_time, zone), day))
    weeks_with_exercises = {(day - plan.starts_on).days // 7 + 1 for day in schedule}
    for week in sorted(weeks_with_exercises):
        day = plan.starts_on + dt.timedelta(weeks=week, days=-1)
        planned.append(
            Planned(ReminderKind.WEEKLY_CHECK_IN, local_to_utc(day, local_time, zone), day)
        )
    day = plan.reassessment_on
    assert day is not None
    planned.append(Planned(ReminderKind.REASSESSMENT, local_to_utc(day, local_time, zone), day))
    return sorted(planned, key=lambda p: (p.due_at, p.kind))


def reminders_for_plan_replace(*, plan: Plan, now: dt.datetime) -> int:
    """Replace the plan's reminders still to come with its current schedule; returns how many
    are planned. Reminders already sent stay as they are."""
    Reminder.objects.filter(
        plan=plan, status=ReminderStatus.PENDING, kind__in=PROGRAM_KINDS
    ).update(status=ReminderStatus.CANCELLED)
    if plan.status != PlanStatus.APPROVED:
        return 0
    local_time, active = reminder_time_for(plan.client)
    if not active:
        return 0
    zone = zoneinfo.ZoneInfo(plan.client.time_zone)
    sent = set(
        Reminder.objects.filter(plan=plan, status=ReminderStatus.SENT).values_list("kind", "day")
    )
    rows = [
        Reminder(
            client=plan.client,
            plan=plan,
            kind=planned.kind,
            due_at=planned.due_at,
            next_attempt_at=planned.due_at,
            day=planned.day,
            phase_number=planned.phase_number,
            created_at=now,
        )
        for planned in program_reminders(plan, local_time=local_time, zone=zone)
        if planned.due_at > now and (planned.kind, planned.day) not in sent
    ]
    Reminder.objects.bulk_create(rows)
    return len(rows)


def client_reminders_replace(*, client: Client, now: dt.datetime) -> int:
    """After the client changed their reminder time or time zone, stopped or restarted
    reminders; returns how many program reminders are now planned."""
    # Only the program the client follows has reminders: approving it stopped the earlier
    # programs' ones, which must not come back here.
    program = client_programs(client).select_related("client__user").first()
    Reminder.objects.filter(
        client=client, status=ReminderStatus.PENDING, kind__in=PROGRAM_KINDS
    ).exclude(plan=program).update(status=ReminderStatus.CANCELLED)
    planned = reminders_for_plan_replace(plan=program, now=now) if program else 0
    _, active = reminder_time_for(client)
    if not active:
        Reminder.objects.filter(
            client=client, status=ReminderStatus.PENDING, kind__in=APPOINTMENT_KINDS
        ).update(status=ReminderStatus.CANCELLED)
    return planned


@transaction.atomic
def client_time_zone_changed(*, client: Client, now: dt.datetime) -> dt.time | None:
    """The client moved to another zone (their profile, already saved): the reminders still to
    come are planned again at their local time in the new zone. Appointment reminders are a
    fixed time before the appointment and need nothing. Returns the local time reminders now
    come at, or None when none are planned."""
    local_time, _ = reminder_time_for(client)
    return local_time if client_reminders_replace(client=client, now=now) else None


@transaction.atomic
def client_profile_save(
    *,
    client: Client,
    actor: User,
    context: RequestContext,
    data: Mapping[str, Any],
    now: dt.datetime,
) -> dt.time | None:
    """The client's profile form, saved with what follows from it in one transaction: a new
    zone and the reminders planned in it are saved together. Returns the local time reminders
    now come at when the zone changed and some are planned, else None."""
    changed = client_profile_update(client=client, actor=actor, context=context, data=data)
    return client_time_zone_changed(client=client, now=now) if "time_zone" in changed else None


@transaction.atomic
def reminder_time_set(*, client: Client, local_time: dt.time, now: dt.datetime) -> None:
    preference = preference_for(client)
    preference.local_time = local_time.replace(second=0, microsecond=0)
    preference.save(update_fields=["local_time", "updated_at"])
    client_reminders_replace(client=client, now=now)


@transaction.atomic
def reminders_stop(*, client: Client, now: dt.datetime) -> bool:
    """Stop every reminder to the client; returns False if they were already stopped."""
    preference = ReminderPreference.objects.select_for_update().filter(client=client).first()
    if preference is None:
        preference = ReminderPreference.objects.create(client=client)
    if preference.stopped_at is not None:
        return False
    preference.stopped_at = now
    preference.save(update_fields=["stopped_at", "updated_at"])
    client_reminders_replace(client=client, now=now)
    return True


@transaction.atomic
def reminders_restart(*, client: Client, now: dt.datetime) -> None:
    preference = preference_for(client)
    if preference.stopped_at is None:
        return
    preference.stopped_at = None
    preference.save(update_fields=["stopped_at", "updated_at"])
    client_reminders_replace(client=client, now=now)


@dataclass
class SyncResult:
    created: int = 0
    cancelled: int = 0


def appointment_reminders_sync(*, now: dt.datetime) -> SyncResult:
    """Keep appointment reminders in step with the appointments: one 24 h and one 1 h before
    each live appointment (unless that moment has passed when it is planned), none for a
    cancelled or moved one. A fixed number of queries, whatever the number of appointments."""
    result = SyncResult()
    stopped = ReminderPreference.objects.filter(stopped_at__isnull=False).values("client_id")
    with transaction.atomic():
        # Pending reminders whose appointment moved, was cancelled or whose client stopped them.
        pending = Reminder.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=ReminderStatus.PENDING, kind__in=APPOINTMENT_KINDS
        )
        stale = []
        for reminder in pending.select_related("appointment"):
            appointment = reminder.appointment
            expected = appointment.starts_at - APPOINTMENT_OFFSETS[ReminderKind(reminder.kind)]
            if (
                appointment.status != AppointmentStatus.CONFIRMED
                or reminder.due_at != expected
                or reminder.client_id != appointment.client_id
            ):
                stale.append(reminder.pk)
        stale += list(pending.filter(client_id__in=stopped).values_list("pk", flat=True))
        result.cancelled = Reminder.objects.filter(pk__in=stale).update(
            status=ReminderStatus.CANCELLED
        )
        upcoming = Appointment.objects.filter(
            status=AppointmentStatus.CONFIRMED,
            starts_at__gt=now,
            starts_at__lte=now + SYNC_HORIZON,
        ).exclude(client_id__in=stopped)
        existing = set(
            Reminder.objects.filter(appointment__in=upcoming)
            .exclude(status=ReminderStatus.CANCELLED)
            .values_list("appointment_id", "kind", "due_at")
        )
        rows = []
        for appointment in upcoming.only("pk", "client_id", "starts_at"):
            for kind, offset in APPOINTMENT_OFFSETS.items():
                due = appointment.starts_at - offset
                if due <= now or (appointment.pk, kind.value, due) in existing:
                    continue
                rows.append(
                    Reminder(
                        client_id=appointment.client_id,
                        appointment=appointment,
                        kind=kind,
                        due_at=due,
                        next_attempt_at=due,
                        created_at=now,
                    )
                )
        Reminder.objects.bulk_create(rows, ignore_conflicts=True)
        result.created = len(rows)
    return result


# --- Sending ----------------------------------------------------------------------------------


def reminders_due_count(*, now: dt.datetime) -> int:
    return Reminder.objects.filter(status=ReminderStatus.PENDING, next_attempt_at__lte=now).count()


class PermanentFailure(smtplib.SMTPException):
    """The mail server refused the message for good (5xx): no retry."""


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    sent_ids: list[int] = field(default_factory=list)


BuildEmail = Callable[[Reminder], EmailMessage | None]


def reminders_dispatch(
    *,
    now: Callable[[], dt.datetime],
    build: BuildEmail,
    limit: int = 500,
    on_claimed: Callable[[Reminder], None] | None = None,
) -> DispatchResult:
    """Send due reminders, one row and one transaction at a time, until none is due or
    ``limit`` were handled. ``build`` renders a reminder's email, or None if it should no
    longer go out (the appointment was cancelled, the plan replaced)."""
    result = DispatchResult()
    with _Mailer() as mailer:
        for _ in range(limit):
            if not _dispatch_one(
                now=now, build=build, mailer=mailer, result=result, on_claimed=on_claimed
            ):
                break
    return result


def _dispatch_one(
    *,
    now: Callable[[], dt.datetime],
    build: BuildEmail,
    mailer: "_Mailer",
    result: DispatchResult,
    on_claimed: Callable[[Reminder], None] | None,
) -> bool:
    reminder_id = None
    delivery = None
    try:
        with transaction.atomic():
            moment = now()
            reminder = (
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("client__user", "plan", "appointment")
                .filter(status=ReminderStatus.PENDING, next_attempt_at__lte=moment)
                .order_by("next_attempt_at", "id")
                .first()
            )
            if reminder is None:
                return False
            reminder_id = reminder.pk
            if on_claimed is not None:
                on_claimed(reminder)
            message = None if moment - reminder.due_at > STALE_AFTER else build(reminder)
            if message is None:
                reminder.status = ReminderStatus.CANCELLED
                reminder.save(update_fields=["status"])
                result.cancelled += 1
                return True
            # The whole message goes over while this row stays locked; it is marked sent and
            # committed before the server is told to accept it.
            delivery = mailer.begin(message)
            reminder.status = ReminderStatus.SENT
            reminder.sent_at = now()
            reminder.attempts += 1
            reminder.last_error = ""
            reminder.save(update_fields=["status", "sent_at", "attempts", "last_error"])
    except (smtplib.SMTPException, OSError) as error:
        if reminder_id is None:
            raise
        _record_failure(reminder_id, error, now=now(), result=result)
        return True
    except Exception as error:
        if reminder_id is None:
            raise
        # Anything else (an address the mail server cannot take, a bug in an email) will not
        # go away by trying again: fail this reminder with the reason and go on with the next,
        # rather than leave it first in line for every run.
        logger.exception("Reminder %s could not be sent", reminder_id)
        _record_failure(reminder_id, error, now=now(), result=result, permanent=True)
        return True
    refusal = delivery.finish()
    if refusal is not None:
        _record_failure(reminder_id, refusal, now=now(), result=result)
        return True
    result.sent += 1
    result.sent_ids.append(reminder_id)
    return True


def _record_failure(
    reminder_id: int,
    error: Exception,
    *,
    now: dt.datetime,
    result: DispatchResult,
    permanent: bool = False,
) -> None:
    """A failed attempt: retried with backoff, or failed for good with the reason. Also
    undoes "sent" when the server refused the message after its data."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
        if reminder.status not in (ReminderStatus.PENDING, ReminderStatus.SENT):
            return
        if reminder.status == ReminderStatus.PENDING:
            reminder.attempts += 1
        reminder.sent_at = None
        reminder.last_error = f"{type(error).__name__}: {error}"[:500]
        if permanent or isinstance(error, PermanentFailure) or reminder.attempts >= MAX_ATTEMPTS:
            reminder.status = ReminderStatus.FAILED
            result.failed += 1
            logger.warning("Reminder %s failed for good: %s", reminder.uuid, reminder.last_error)
        else:
            reminder.status = ReminderStatus.PENDING
            reminder.next_attempt_at = now + BACKOFF * 2 ** (reminder.attempts - 1)
            result.retried += 1
        reminder.save(
            update_fields=["attempts", "last_error", "status", "next_attempt_at", "sent_at"]
        )


class _Delivery:
    """A message transferred but not yet accepted; ``finish`` makes the server accept it and
    returns the refusal, if any."""

    def __init__(self, smtp: smtplib.SMTP | None, mailer: "_Mailer") -> None:
        self.smtp = smtp
        self.mailer = mailer

    def finish(self) -> Exception | None:
        if self.smtp is None:
            return None
        try:
            self.smtp.send(b".\r\n")
            code, reply = self.smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            # Marked sent and committed: without an answer we cannot know, and a resend could
            # repeat it, so it stays sent.
            logger.warning("No answer to the end of a reminder's data: %s", error)
            self.mailer.drop()
            return None
        if code != 250:
            self.mailer.drop()
            return _smtp_error(code, reply, "end of DATA")
        self.mailer.last_used = time.monotonic()
        return None


class _Mailer:
    """Sends reminder emails in two steps (see ``_Delivery`` and the module docstring).

    With the SMTP backend the commit point is just before the final "." of the DATA command;
    with any other backend (the console in the quick start) the message is handed over whole
    in ``begin``.
    """

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.backend = get_connection()
        self.use_smtp = isinstance(self.backend, SmtpBackend)
        self.last_used = 0.0

    def __enter__(self) -> "_Mailer":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def begin(self, message: EmailMessage) -> _Delivery:
        if not self.use_smtp:
            if self.backend.send_messages([message]) != 1:
                raise smtplib.SMTPException("The email backend did not send the message.")
            return _Delivery(None, self)
        # As Django's SMTP backend does: international domains in IDNA, names encoded.
        encoding = message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(message.from_email, encoding)
        recipients = [sanitize_address(address, encoding) for address in message.recipients()]
        try:
            smtp = self._connect()
            code, reply = smtp.mail(sender)
            if code != 250:
                raise _smtp_error(code, reply, "MAIL FROM")
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    raise _smtp_error(code, reply, "RCPT TO")
            code, reply = smtp.docmd("data")
            if code != 354:
                raise _smtp_error(code, reply, "DATA")
            # The dot-escaping smtplib's data() does, without its final "."; as_bytes gives
            # the CRLF line endings SMTP needs.
            content = message.message().as_bytes(linesep="\r\n")
            body = smtplib._quote_periods(content)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
        except (smtplib.SMTPException, OSError):
            self.drop()
            raise
        return _Delivery(smtp, self)

    def _connect(self) -> smtplib.SMTP:
        if self.smtp is not None:
            # A connection used moments ago is used again as it is; one idle for a while is
            # checked first, as servers close idle connections.
            if time.monotonic() - self.last_used < IDLE_CHECK_SECONDS:
                return self.smtp
            try:
                if self.smtp.noop()[0] == 250:
                    return self.smtp
            except (smtplib.SMTPException, OSError):
                pass
            self.drop()
        backend: SmtpBackend = self.backend
        connection_class = smtplib.SMTP_SSL if backend.use_ssl else smtplib.SMTP
        smtp = connection_class(backend.host, backend.port, timeout=backend.timeout or 30)
        # The final "." goes out as a small write of its own; without TCP_NODELAY the kernel
        # holds it until the server acknowledges the body, which it delays (Nagle meeting
        # delayed ACK: about 40 ms a message, docs/benchmarks.md "Reminders").
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if backend.use_tls:
            smtp.starttls(context=backend.ssl_context)
        if backend.username and backend.password:
            smtp.login(backend.username, backend.password)
        smtp.ehlo_or_helo_if_needed()
        self.smtp = smtp
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None


def _smtp_error(code: int, reply: bytes, command: str) -> Exception:
    text = f"{command}: {code} {reply.decode(errors='replace')}"
    if 500 <= code < 600:
        return PermanentFailure(text)
    return smtplib.SMTPException(text)
