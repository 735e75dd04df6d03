"""Clients sign in with one-time email links; clinicians with argon2 passwords, rate-limited."""

import datetime as dt
import re
import time

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client as HttpClient
from django.urls import reverse

from clinic.models import AuditEvent, SignInLink
from tests import factories
from tests.broker import broker_refusing

pytestmark = pytest.mark.django_db


def request_link(http: HttpClient, email: str, next_path: str = ""):
    return http.post(reverse("clinic:sign_in_link_request"), {"email": email, "next": next_path})


def emailed_link(inbox, address: str) -> str:
    [message] = inbox.to(address)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    [url] = re.findall(r"http://localhost:8000(/login/link/[^\s]+/)", text)
    assert url in html
    return url


@pytest.fixture
def link_for_ana(client_record, as_stranger, inbox, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = request_link(as_stranger, "Ana@Example.org")
    assert response.status_code == 200
    assert "Check your email" in response.text
    return emailed_link(inbox, "ana@example.org")


def test_a_client_signs_in_with_the_emailed_link(client_record, link_for_ana, as_stranger) -> None:
    confirm = as_stranger.get(link_for_ana)
    assert confirm.status_code == 200
    assert "Continue as <strong>ana@example.org</strong>" in confirm.text

    response = as_stranger.post(link_for_ana)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:my_care")
    assert as_stranger.get(reverse("dashboard:my_care")).status_code == 200
    assert AuditEvent.objects.filter(actor=client_record.user, action="signed_in").exists()


def test_opening_the_link_does_not_use_it_up(link_for_ana, as_stranger) -> None:
    # Mail scanners open links before people do.
    for _ in range(3):
        assert as_stranger.get(link_for_ana).status_code == 200
    assert as_stranger.post(link_for_ana).status_code == 302


def test_a_link_works_only_once(link_for_ana, as_stranger) -> None:
    assert as_stranger.post(link_for_ana).status_code == 302

    again = HttpClient().post(link_for_ana)

    assert again.status_code == 410
    assert "already been used" in again.text
    assert SignInLink.objects.get().used_at is not None


def test_a_link_expires(link_for_ana, as_stranger) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)):
        response = as_stranger.post(link_for_ana)

    assert response.status_code == 410
    assert "expired" in response.text
    # The browser that used the link is not signed in.
    assert "_auth_user_id" not in as_stranger.session
    assert as_stranger.get(reverse("dashboard:my_care")).status_code == 302
    assert SignInLink.objects.get().used_at is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda url: url[:-4] + "xx/",
        lambda url: url.replace(":", "-", 1),
        lambda url: "/login/link/abc/",
    ],
)
def test_a_tampered_link_is_refused(link_for_ana, mangle) -> None:
    response = HttpClient().post(mangle(link_for_ana))

    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "not valid" in response.text


def test_unknown_and_staff_emails_get_the_same_answer_and_no_email(
    clinician, as_stranger, inbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        unknown = request_link(as_stranger, "nobody@example.org")
        staff = request_link(as_stranger, clinician.user.email)

    assert unknown.status_code == staff.status_code == 200
    assert "Check your email" in unknown.text
    assert "Check your email" in staff.text
    assert inbox.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_link_asked_for_while_the_broker_is_down_says_what_to_do_if_none_comes(
    client_record, as_stranger, inbox, caplog
) -> None:
    # Committed for real, so the link's email is queued inside the request, as in production.
    with broker_refusing():
        response = request_link(as_stranger, "ana@example.org")

    assert response.status_code == 200
    assert "Check your email" in response.text
    assert "Nothing arrived after a few minutes?" in response.text
    assert f'<a href="{reverse("clinic:login")}">ask for a new link</a>' in response.text
    assert "queueing clinic.tasks.send_sign_in_link" in caplog.text
    assert inbox.messages == []
    # No sweep for these (a link expires in minutes): the new link she asks for works.
    assert request_link(as_stranger, "ana@example.org").status_code == 200
    assert as_stranger.post(emailed_link(inbox, "ana@example.org")).status_code == 302
    assert SignInLink.objects.filter(user=client_record.user).count() == 2


def page_for(response, email: str) -> str:
    """The page as the person sees it, with the email they typed and the form token masked."""
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)
    return text.replace(email, "EMAIL")


def test_link_requests_are_limited_per_email_whether_or_not_it_is_a_client(
    client_record, clinician
) -> None:
    emails = ["ana@example.org", "nobody@example.org", clinician.user.email]
    answers: dict[str, list] = {}
    for email in emails:
        # A fresh browser and address each time: only the email is counted here.
        answers[email] = [
            request_link(HttpClient(REMOTE_ADDR=f"203.0.113.{n + 10 * len(answers)}"), email)
            for n in range(6)
        ]

    for email in emails:
        *allowed, refused = answers[email]
        assert [response.status_code for response in allowed] == [200] * 5, email
        assert refused.status_code == 429, email
        assert "Too many sign-in links were asked for this address" in refused.text
    # Nothing in the answers tells a client's address from any other.
    ana, nobody, staff = ([page_for(r, e) for r in answers[e]] for e in emails)
    assert ana == nobody == staff
    assert SignInLink.objects.count() == 5


def test_link_requests_are_limited_per_address(client_record, settings) -> None:
    settings.SIGN_IN_LINKS_PER_IP_PER_HOUR = 3
    one_network = HttpClient(REMOTE_ADDR="198.51.100.7")

    allowed = [request_link(one_network, f"person{n}@example.org") for n in range(3)]
    refused = request_link(one_network, "ana@example.org")
    elsewhere = request_link(HttpClient(REMOTE_ADDR="198.51.100.8"), "ana@example.org")

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert "Too many sign-in links were asked for from your network" in refused.text
    assert elsewhere.status_code == 200
    assert SignInLink.objects.get().requested_from == "198.51.100.8"


def test_the_link_returns_to_the_page_that_asked(
    client_record, as_stranger, inbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request_link(as_stranger, "ana@example.org", next_path="/me/profile/")
    assert as_stranger.post(emailed_link(inbox, "ana@example.org"))["Location"] == "/me/profile/"


def test_the_link_never_returns_to_another_site(
    client_record, as_stranger, inbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request_link(as_stranger, "ana@example.org", next_path="https://evil.example/steal")
    assert as_stranger.post(emailed_link(inbox, "ana@example.org"))["Location"] == reverse(
        "dashboard:my_care"
    )


def test_an_invalid_email_is_explained(as_stranger) -> None:
    response = request_link(as_stranger, "not an email")

    assert response.status_code == 400
    assert "Enter a valid email address" in response.text


def staff_sign_in(http: HttpClient, email: str, password: str, **extra):
    return http.post(
        reverse("clinic:staff_sign_in"), {"email": email, "password": password}, **extra
    )


def test_a_clinician_signs_in_with_a_password_hashed_with_argon2(clinician, as_stranger) -> None:
    assert clinician.user.password.startswith("argon2")

    response = staff_sign_in(as_stranger, "MAYA@clinic.example", "a-long-clinician-password")

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:clinician_home")
    assert as_stranger.get(reverse("dashboard:clinician_home")).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(clinician, as_stranger) -> None:
    response = staff_sign_in(as_stranger, "maya@clinic.example", "wrong")

    assert response.status_code == 400
    assert "do not match" in response.text
    assert AuditEvent.objects.filter(
        action="sign_in_failed", object_uuid=clinician.user.uuid
    ).exists()


def test_clients_cannot_sign_in_with_a_password(client_record, as_stranger) -> None:
    client_record.user.set_password("a-password-somebody-set")
    client_record.user.save()

    response = staff_sign_in(as_stranger, "ana@example.org", "a-password-somebody-set")

    assert response.status_code == 400
    assert as_stranger.get(reverse("dashboard:my_care")).status_code == 302


def test_repeated_failures_lock_the_account_for_a_while(clinician, as_stranger, settings) -> None:
    window = 3
    settings.LOGIN_FAILURE_WINDOW_SECONDS = window
    # Argon2 makes each attempt slow on purpose; on a loaded machine five of them can outlast
    # the short window this test uses, so it tries again until they fit in it.
    for _ in range(3):
        cache.clear()
        started = time.monotonic()
        for _ in range(5):
            assert staff_sign_in(as_stranger, "maya@clinic.example", "guess").status_code == 400
        locked = staff_sign_in(
            HttpClient(),
            "maya@clinic.example",
            "a-long-clinician-password",
            REMOTE_ADDR="198.51.100.9",
        )
        if time.monotonic() - started < window:
            break
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.text
    # Redis expires the window (which began at the first failure) on its own clock.
    time.sleep(window + 0.1)
    assert (
        staff_sign_in(HttpClient(), "maya@clinic.example", "a-long-clinician-password").status_code
        == 302
    )


def test_many_failures_from_one_address_are_limited_across_accounts(
    clinician, other_clinician, settings
) -> None:
    settings.LOGIN_FAILURES_PER_IP = 3
    http = HttpClient(REMOTE_ADDR="192.0.2.50")
    for email in ("a@example.org", "b@example.org", "c@example.org"):
        staff_sign_in(http, email, "guess")

    response = staff_sign_in(http, "sam@clinic.example", "a-long-clinician-password")

    assert response.status_code == 429


def test_signing_out(clinician, as_clinician) -> None:
    response = as_clinician.post(reverse("clinic:logout"))

    assert response.status_code == 302
    assert as_clinician.get(reverse("dashboard:clinician_home")).status_code == 302


def test_the_admin_login_goes_through_the_rate_limited_form(as_stranger) -> None:
    response = as_stranger.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2F"


def test_an_admin_signs_in_and_reaches_the_admin(as_stranger) -> None:
    factories.make_admin(email="boss@clinic.example")

    response = staff_sign_in(as_stranger, "boss@clinic.example", "a-long-admin-password")

    assert response.status_code == 302
    assert as_stranger.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("next_value", ["1e309", "dashboard", "../../etc/passwd", "25:61"])
def test_a_next_that_is_not_a_path_of_ours_takes_a_signed_in_person_home(
    as_clinician, next_value: str
) -> None:
    response = as_clinician.get(reverse("clinic:login"), {"next": next_value})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:clinician_home")
