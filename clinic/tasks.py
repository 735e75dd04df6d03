from celery import shared_task

from clinic.sign_in import sign_in_link_email


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_sign_in_link(link_id: str) -> None:
    """Email the link, once (clinic.sign_in.sign_in_link_email); an unreachable mail server
    is retried with backoff."""
    sign_in_link_email(link_id)
