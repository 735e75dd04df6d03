"""Reads of the clinic's people that decide what a signed-in person is: the one place the
layers above (booking, programs, the dashboard) ask "which client is this?"."""

from django.db.models import Prefetch

from clinic.models import Client, Clinician, Intake, Role, User


def client_for_user(user: User) -> Client:
    """The client record of a signed-in client (Client.DoesNotExist for anyone else), with
    their intakes, newest first."""
    return (
        Client.objects.select_related("user")
        .prefetch_related(Prefetch("intakes", queryset=Intake.objects.order_by("-submitted_at")))
        .get(user=user, user__role=Role.CLIENT)
    )


def client_by_uuid(client_uuid: object) -> Client | None:
    """A client named by an emailed link (its signature already checked)."""
    return Client.objects.select_related("user").filter(uuid=client_uuid).first()


def clinician_for_user(user: User) -> Clinician | None:
    """The clinician record of a signed-in clinician, or None (an admin without one, say)."""
    return Clinician.objects.select_related("user").filter(user=user).first()


def client_signed_in(user: User) -> Client | None:
    """The client record of whoever is signed in, or None for a visitor or staff."""
    if not user.is_authenticated or user.role != Role.CLIENT:
        return None
    return Client.objects.filter(user=user).select_related("user").first()
