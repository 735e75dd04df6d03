"""Signing in: one-time email links for clients, passwords for clinicians and admins."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from clinic import ratelimit
from clinic.audit import RequestContext, audit_record
from clinic.emails import email_build
from clinic.models import AuditAction, Role, SignInLink, User, normalize_email
from telehealth.tasks import queue_after_commit

_LINK_SALT = "clinic.sign-in-link"


class SignInError(Exception):
    """Why a sign-in did not happen, in words the person can act on."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LinkInvalid(SignInError):
    status = 400


class LinkExpired(SignInError):
    status = 410


class TooManyAttempts(SignInError):
    status = 429


class WrongCredentials(SignInError):
    status = 400


def safe_next_path(candidate: str | None) -> str:
    """A local path to return to after signing in, or "" for anything else."""
    # Only an absolute path: redirect() reads a bare word ("1e309") as the name of a view and
    # fails to reverse it, and a relative one ("../x") depends on where the visitor stands.
    if (
        candidate
        and candidate.startswith("/")
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts=None)
    ):
        return candidate[:500]
    return ""


def sign_in_link_token(link: SignInLink) -> str:
    # The row carries expiry and single use, so the token only has to be unforgeable.
    return signing.Signer(salt=_LINK_SALT).sign(str(link.id))


LINK_REQUEST_WINDOW_SECONDS = 60 * 60


def _link_request_count(*, email: str, ip: str) -> None:
    """Count a request for a link, or refuse it when this email or address asked too often.

    Every email is counted, a client's or not, so the limit cannot tell who is a client; the
    per-address limit stops one machine from mailing many clients. Counting and refusing is
    one atomic step, so requests sent at the same moment cannot all slip under the limit.
    """
    window = LINK_REQUEST_WINDOW_SECONDS
    if not ratelimit.attempt_take(
        "sign-in-link-ip", ip, limit=settings.SIGN_IN_LINKS_PER_IP_PER_HOUR, window_seconds=window
    ):
        raise TooManyAttempts(
            "Too many sign-in links were asked for from your network in the last hour. "
            "Please try again later."
        )
    if not ratelimit.attempt_take(
        "sign-in-link-email",
        email,
        limit=settings.SIGN_IN_LINKS_PER_EMAIL_PER_HOUR,
        window_seconds=window,
    ):
        # A request refused for its email is not counted against the network either.
        ratelimit.attempt_give_back("sign-in-link-ip", ip)
        raise TooManyAttempts(
            "Too many sign-in links were asked for this address in the last hour. "
            "Please use the newest link you received, or try again later."
        )


def sign_in_link_request(
    *, email: str, next_path: str, context: RequestContext, now: dt.datetime | None = None
) -> SignInLink | None:
    """Create a link for an active client with this email and email it after commit.

    Returns None, and sends nothing, for unknown emails and staff accounts; the caller shows
    the same message either way so that the form does not reveal who is a client. Raises
    TooManyAttempts, for any email alike, past the hourly limits.
    """
    now = now or timezone.now()
    email = normalize_email(email)
    _link_request_count(email=email, ip=context.ip_address or "unknown")
    user = User.objects.filter(email=email, role=Role.CLIENT, is_active=True).first()
    if user is None:
        return None
    with transaction.atomic():
        link = SignInLink.objects.create(
            user=user,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=settings.SIGN_IN_LINK_MINUTES),
            next_path=safe_next_path(next_path),
            requested_from=context.ip_address,
        )
        queue_after_commit("clinic.tasks.send_sign_in_link", str(link.id))
    return link


def sign_in_link_check(token: str, *, now: dt.datetime | None = None) -> SignInLink:
    """The link behind a token if it can still be used, without using it."""
    now = now or timezone.now()
    try:
        link_id = signing.Signer(salt=_LINK_SALT).unsign(token)
        link = SignInLink.objects.select_related("user").get(id=link_id)
    except (signing.BadSignature, SignInLink.DoesNotExist, ValueError):
        raise LinkInvalid(
            "This sign-in link is not valid. It may have been copied incompletely."
        ) from None
    if link.used_at is not None:
        raise LinkExpired("This sign-in link has already been used. Each link works once.")
    if link.expires_at <= now or not link.user.is_active:
        raise LinkExpired("This sign-in link has expired. Links work for a short time only.")
    return link


@transaction.atomic
def sign_in_link_redeem(
    token: str, *, context: RequestContext, now: dt.datetime | None = None
) -> SignInLink:
    """Use the link once and return it; a second use, even concurrent, fails."""
    now = now or timezone.now()
    link = sign_in_link_check(token, now=now)
    # Re-read under a row lock so two simultaneous clicks cannot both succeed.
    locked = SignInLink.objects.select_for_update().get(id=link.id)
    if locked.used_at is not None:
        raise LinkExpired("This sign-in link has already been used. Each link works once.")
    locked.used_at = now
    locked.save(update_fields=["used_at"])
    audit_record(
        actor=link.user,
        action=AuditAction.SIGNED_IN,
        object_type="user",
        object_uuid=link.user.uuid,
        client=None,
        context=context,
        changes=["email_link"],
    )
    return link


def staff_authenticate(
    *, email: str, password: str, request: object, context: RequestContext
) -> User:
    """Check a clinician's or admin's password, refusing after too many failures."""
    email = normalize_email(email)
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    too_many = TooManyAttempts(
        f"Too many failed sign-in attempts. Try again in {max(1, window // 60)} minutes."
    )
    ip = context.ip_address or "unknown"
    # The attempt is counted as a failure before the password is checked, so that attempts
    # arriving at the same moment never check more passwords than the limits allow; a success
    # then takes it back.
    if not ratelimit.attempt_take(
        "login-account", email, limit=settings.LOGIN_FAILURES_PER_ACCOUNT, window_seconds=window
    ):
        raise too_many
    if not ratelimit.attempt_take(
        "login-ip", ip, limit=settings.LOGIN_FAILURES_PER_IP, window_seconds=window
    ):
        ratelimit.attempt_give_back("login-account", email)
        raise too_many

    try:
        user = authenticate(request, email=email, password=password)
    except BaseException:
        # Nothing was checked (the database was unreachable, say): not a failure to count.
        ratelimit.attempt_give_back("login-account", email)
        ratelimit.attempt_give_back("login-ip", ip)
        raise
    if user is None or user.role not in (Role.CLINICIAN, Role.ADMIN):
        # The attempts taken above stay counted: they are this failure.
        known = User.objects.filter(email=email).first()
        audit_record(
            actor=None,
            action=AuditAction.SIGN_IN_FAILED,
            object_type="user",
            object_uuid=known.uuid if known else None,
            client=None,
            context=context,
        )
        # Same words whatever the reason, so the form does not reveal who has an account.
        raise WrongCredentials("That email and password do not match an active clinic account.")

    # A success clears the account's failures and is not one of the address's.
    ratelimit.reset_attempts("login-account", email)
    ratelimit.attempt_give_back("login-ip", ip)
    audit_record(
        actor=user,
        action=AuditAction.SIGNED_IN,
        object_type="user",
        object_uuid=user.uuid,
        client=None,
        context=context,
        changes=["password"],
    )
    return user


def sign_in_link_email(link_id: str) -> None:
    """Email the link, once: a run after one that sent it (redelivered because its worker died
    before acknowledging, or handed out twice by the broker) sends nothing. A worker killed
    between the mail server's acceptance and the mark below still sends it twice: the mail
    server cannot be asked whether it has it."""
    # The row stays locked while the email goes out: a second run at the same moment waits,
    # then finds it emailed. If this process dies, the lock goes with its connection.
    with transaction.atomic():
        link = (
            SignInLink.objects.select_related("user")
            .select_for_update(of=("self",))
            .filter(id=link_id, used_at=None, emailed_at=None)
            .first()
        )
        if link is None:
            return
        url = settings.SITE_URL + reverse("clinic:sign_in_link", args=[sign_in_link_token(link)])
        email_build(
            to=[link.user.email],
            template="sign_in_link",
            context={"user": link.user, "url": url, "minutes": settings.SIGN_IN_LINK_MINUTES},
        ).send()
        SignInLink.objects.filter(id=link.id).update(emailed_at=timezone.now())
