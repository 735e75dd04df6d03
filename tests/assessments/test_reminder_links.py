"""A reminder as the client receives it: sent through the real SMTP server, parsed back, and
every link in it opened over HTTP against daphne (a browser's way: GET the page, then POST its
form with the CSRF cookie and token), checking what each one did."""

import datetime as dt
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo
from email.message import EmailMessage

import pytest
from django.utils import timezone

from assessments.models import (
    PainLog,
    PracticeLog,
    Reminder,
    ReminderKind,
    ReminderPreference,
    ReminderStatus,
)
from assessments.programs.emails import reminder_email
from assessments.programs.reminders import reminders_dispatch
from tests import factories
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan

pytestmark = pytest.mark.django_db(transaction=True)
LONDON = zoneinfo.ZoneInfo("Europe/London")


class Browser:
    """urllib with a cookie jar: enough of a browser for server-rendered forms."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(url, data=body, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def submit(self, url: str, page: str, **fields: str) -> tuple[int, str]:
        """POST the page's form back to ``url`` with its CSRF token and ``fields``."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page[:2000]
        return self.open(url, {"csrfmiddlewaretoken": token[1], **fields})


@pytest.fixture
def sent_reminder(asgi_server, clinician, library, inbox) -> tuple[EmailMessage, Reminder]:
    """Today's practice reminder of a program that started yesterday, sent now."""
    client = factories.make_client(email="ana.links@example.org", full_name="Ana Links")
    now = timezone.now()
    plan = make_plan(
        client=client,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=now - dt.timedelta(days=2),
    )
    today = now.astimezone(LONDON).date()
    reminder = Reminder.objects.get(plan=plan, kind=ReminderKind.PRACTICE, day=today)
    # Only this one, and due now: the others of the program wait for their day.
    Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).exclude(
        pk=reminder.pk
    ).update(status=ReminderStatus.CANCELLED)
    Reminder.objects.filter(pk=reminder.pk).update(
        due_at=now - dt.timedelta(seconds=5), next_attempt_at=now - dt.timedelta(seconds=5)
    )
    inbox.clear()
    assert reminders_dispatch(now=timezone.now, build=reminder_email).sent == 1
    [message] = inbox.to("ana.links@example.org")
    reminder.refresh_from_db()
    return message, reminder


def links(message: EmailMessage) -> list[str]:
    html = message.get_body(("html",)).get_content()
    return re.findall(r'href="([^"]+)"', html)


def test_the_done_and_pain_links_of_a_reminder_record_over_http(sent_reminder, asgi_server):
    message, reminder = sent_reminder
    found = links(message)
    done_links = [link for link in found if "/program/done/" in link]
    pain_links = [link for link in found if "/program/pain/" in link]
    items = list(reminder.plan.phases.get(number=1).items.select_related("exercise"))
    assert len(done_links) == len(items)
    assert len(pain_links) == 11
    assert all(link.startswith(asgi_server.url) for link in done_links + pain_links)

    # Tick the second exercise off from the email.
    browser = Browser()
    status, confirm = browser.open(done_links[1])
    assert status == 200
    assert not PracticeLog.objects.exists()  # opening the link alone records nothing
    assert items[1].exercise.name in confirm
    status, page = browser.submit(done_links[1], confirm)
    assert status == 200
    assert "Well done" in page
    [log] = PracticeLog.objects.all()
    assert (log.item_id, log.day, log.source) == (items[1].pk, reminder.day, "email")
    # Again: still one.
    status, page = browser.submit(done_links[1], confirm)
    assert "Already ticked off" in page
    assert PracticeLog.objects.count() == 1

    # Pain 4 of 10 from its button.
    score_four = pain_links[4]
    status, page = browser.open(score_four)
    assert status == 200
    status, page = browser.submit(score_four, page)
    assert status == 200
    assert "pain 4 of 10 saved" in page
    [pain] = PainLog.objects.all()
    assert (pain.day, pain.score, pain.source) == (reminder.day, 4, "email")


def test_the_settings_and_unsubscribe_links_of_a_reminder_work_over_http(
    sent_reminder, asgi_server
):
    message, reminder = sent_reminder
    client = reminder.client
    [settings_link] = [link for link in links(message) if re.search(r"/reminders/[^/]+/$", link)]
    browser = Browser()
    status, page = browser.open(settings_link)
    assert status == 200
    assert "08:00" in page
    status, page = browser.submit(settings_link, page, action="time", local_time="07:15")
    assert status == 200
    assert "Reminders will come at 07:15 (Europe/London)." in page
    assert ReminderPreference.objects.get(client=client).local_time == dt.time(7, 15)
    pending = Reminder.objects.filter(plan=reminder.plan, status=ReminderStatus.PENDING)
    assert pending.exists()
    assert {r.due_at.astimezone(LONDON).time() for r in pending} == {dt.time(7, 15)}

    # The List-Unsubscribe header: a mail service's one-click POST, no page, no cookie.
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith(asgi_server.url)
    status, page = Browser().open(unsubscribe, {"List-Unsubscribe": "One-Click"})
    assert status == 200
    assert "Reminders stopped" in page
    assert ReminderPreference.objects.get(client=client).stopped_at is not None
    assert not Reminder.objects.filter(client=client, status=ReminderStatus.PENDING).exists()
    # And again: nothing changes, no error.
    status, _ = Browser().open(unsubscribe, {"List-Unsubscribe": "One-Click"})
    assert status == 200
