"""GOV.UK's error pattern on every form (clinic/templatetags/form_errors.py, base.html): on an
invalid submit the title starts with "Error:", a summary at the top of the main content links
each problem to its field, and each field is marked invalid and described by its message, radio
and checkbox groups included. The browser half (focus on the summary, a link taking the focus to
its field) is in tests/e2e/test_booking_journey.py."""

import html.parser
import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clinic.models import Clinician
from sessions.models import Service

pytestmark = pytest.mark.django_db


class Page(html.parser.HTMLParser):
    """The ids on a page, its controls' attributes and the summary's links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.controls: list[dict[str, str | None]] = []
        self.summary_links: list[str] = []
        self._in_summary = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids[str(attributes["id"])] = attributes
        if tag in {"input", "select", "textarea"} and attributes.get("type") != "hidden":
            self.controls.append(attributes)
        if "data-error-summary" in attributes:
            self._in_summary = 1
        elif self._in_summary and tag == "div":
            self._in_summary += 1
        if self._in_summary and tag == "a":
            self.summary_links.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        if self._in_summary and tag == "div":
            self._in_summary -= 1


def title(text: str) -> str:
    found = re.search(r"<title>(.*?)</title>", text, re.S)
    assert found
    return found[1].strip()


def test_an_invalid_booking_says_so_in_the_title_and_links_every_problem_to_its_field(
    consent_documents, service: Service, clinician: Clinician
) -> None:
    url = reverse("sessions:book_details", args=[service.uuid]) + f"?clinician={clinician.uuid}"

    response = HttpClient().post(url, {"full_name": "Chloe Martin", "knee_pain_side": "sideways"})

    text = response.content.decode()
    assert response.status_code == 400
    assert title(text).startswith("Error: Your details")
    page = Page(text)
    invalid = [control for control in page.controls if control.get("aria-invalid") == "true"]
    # Every answer of the radio groups, and the text fields left empty.
    names = {control["name"] for control in invalid}
    assert {"knee_pain_side", "pain_duration", "dominant_leg", "email", "pain_now"} <= names
    assert "full_name" not in names
    for control in invalid:
        described = str(control.get("aria-describedby") or "").split()
        errors = [ref for ref in described if ref.endswith("_error")]
        assert errors, control
        assert all(ref in page.ids for ref in errors), (control, errors)
    # The summary links to the first answer of each invalid group, and to each invalid field.
    targets = [link.removeprefix("#") for link in page.summary_links]
    assert all(target in page.ids for target in targets), targets
    assert "id_knee_pain_side_0" in targets
    assert "id_email" in targets
    assert "id_full_name" not in targets
    # The generic "required" message names its field in the summary.
    assert "Email: this field is required." in text


def test_a_page_without_errors_has_no_summary(
    consent_documents, service: Service, clinician: Clinician
) -> None:
    response = HttpClient().get(reverse("clinic:login"))

    text = response.content.decode()
    assert not title(text).startswith("Error:")
    assert "data-error-summary" not in text


def test_a_refused_sign_in_shows_the_summary_too() -> None:
    response = HttpClient().post(reverse("clinic:sign_in_link_request"), {"email": "not an email"})

    text = response.content.decode()
    assert title(text).startswith("Error:"), title(text)
    page = Page(text)
    assert page.summary_links == ["#link_email"]
    assert page.ids["link_email"]["aria-invalid"] == "true"
