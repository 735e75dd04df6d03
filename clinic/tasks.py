from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from clinic.emails import email_build
from clinic.models import SignInLink
from clinic.sign_in import sign_in_link_token


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_sign_in_link(link_id: str) -> None:
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
