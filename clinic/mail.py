"""Building the clinic's emails: every email has a plain-text and an HTML part."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


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
