from celery import shared_task
from django.conf import settings
from django.urls import reverse

from clinic.mail import email_build
from clinic.models import SignInLink
from clinic.sign_in import sign_in_link_token


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_sign_in_link(link_id: str) -> None:
    link = SignInLink.objects.select_related("user").filter(id=link_id, used_at=None).first()
    if link is None:
        return
    url = settings.SITE_URL + reverse("clinic:sign_in_link", args=[sign_in_link_token(link)])
    email_build(
        to=[link.user.email],
        template="sign_in_link",
        context={"user": link.user, "url": url, "minutes": settings.SIGN_IN_LINK_MINUTES},
    ).send()
