"""Links sent to people about an appointment: join the session, manage the booking."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.urls import reverse

from sessions.models import Appointment

_MANAGE_SALT = "sessions.manage-appointment"


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def join_url(appointment: Appointment) -> str:
    return absolute(reverse("sessions:join", args=[appointment.uuid]))


def manage_token(appointment: Appointment) -> str:
    # Only proves the link came from us; whether the booking can still be changed is decided
    # from the appointment itself when the link is opened.
    return signing.Signer(salt=_MANAGE_SALT).sign(str(appointment.uuid))


def manage_token_appointment_uuid(token: str) -> str:
    """The appointment a manage token names; raises signing.BadSignature if tampered with."""
    return signing.Signer(salt=_MANAGE_SALT).unsign(token)


def manage_url(appointment: Appointment) -> str:
    return absolute(reverse("sessions:manage", args=[manage_token(appointment)]))


def calendar_uid(appointment: Appointment) -> str:
    """Stable for the life of the appointment so calendars update the same event."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"{appointment.uuid}@{host}"
