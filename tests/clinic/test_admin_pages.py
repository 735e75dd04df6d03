"""Every admin page of the clinic's own models opens for a clinic admin, and for nobody else."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db.models import Model
from django.urls import reverse

from assessments.programs.reminders import preference_for
from clinic.models import AuditEvent, Client, Clinician, ClinicianNote
from tests.conftest import signed_in
from tests.factories import make_admin

pytestmark = pytest.mark.django_db

OUR_APPS = {"clinic", "virtual_sessions", "assessments"}


def our_admins() -> list[tuple[type[Model], admin.ModelAdmin]]:
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ]


def url(model: type[Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.fixture
def demo_clinic(library) -> None:
    """The demo clinic with its history, plus the rows it does not make: one of each model."""
    call_command("load_demo_clinic", stdout=io.StringIO())
    call_command("load_demo_progress", stdout=io.StringIO())
    client = Client.objects.order_by("pk").first()
    ClinicianNote.objects.create(
        client=client, author=Clinician.objects.order_by("pk").first().user, body="Demo note"
    )
    preference_for(client)


def test_every_admin_page_of_our_models_opens_for_a_clinic_admin(demo_clinic) -> None:
    http = signed_in(make_admin(email="head@clinic.example", full_name="Head of Clinic"))
    registered = our_admins()
    assert len(registered) >= 10
    assert http.get(reverse("admin:index")).status_code == 200

    without_rows = []
    for model, model_admin in registered:
        name = model._meta.label
        changelist = http.get(url(model, "changelist"))
        assert changelist.status_code == 200, name
        if model_admin.search_fields:
            assert http.get(url(model, "changelist"), {"q": "a"}).status_code == 200, name
        add = http.get(url(model, "add"))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403)
        row = model._default_manager.order_by("pk").first()
        if row is None:
            without_rows.append(name)
            continue
        change = http.get(url(model, "change", row.pk))
        assert change.status_code == 200, name
        assert http.get(url(model, "history", row.pk)).status_code == 200, name

    # A model without rows would have its change page untested.
    assert without_rows == []
    # Opening the pages was audited, as every view of client data is.
    assert AuditEvent.objects.filter(actor_email="head@clinic.example", action="viewed").exists()


def test_clinicians_and_clients_get_no_admin(
    demo_clinic, as_clinician, as_client, as_stranger
) -> None:
    pages = [reverse("admin:index")]
    for model, _ in our_admins():
        pages += [url(model, "changelist"), url(model, "add")]
    for persona in (as_clinician, as_client):
        for page in pages:
            # Signed in already, so sending them to sign in would only bring them back here.
            response = persona.get(page)
            assert response.status_code == 403, page
            assert "This page is not part of your account" in response.text, page
    for page in pages:
        response = as_stranger.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("admin:login")), page


@pytest.mark.parametrize("persona", ["as_clinician", "as_client"])
def test_a_clinician_or_client_opening_the_admin_is_told_it_is_not_theirs(
    request, persona: str, admin_user
) -> None:
    http = request.getfixturevalue(persona)

    # Each step of the way a browser would go, also through the sign-in page (which sends
    # someone signed in on to the page they asked for): no redirect loop.
    for start in ("/admin/", "/admin/login/?next=/admin/", "/login/?next=/admin/"):
        response = http.get(start, follow=True)
        assert response.status_code == 403, start
        assert "This page is not part of your account" in response.text
        assert "Clinic administration" not in response.text


@pytest.mark.parametrize(
    ("who", "password", "status", "shown"),
    [
        ("admin_user", "a-long-admin-password", 200, "Clinic administration"),
        ("clinician", "a-long-clinician-password", 403, "This page is not part of your account"),
    ],
)
def test_a_signed_out_visitor_signs_in_and_is_taken_back_to_the_admin(
    request, as_stranger, who: str, password: str, status: int, shown: str
) -> None:
    person = request.getfixturevalue(who)
    email = getattr(person, "user", person).email

    page = as_stranger.get("/admin/clinic/client/", follow=True)

    assert page.status_code == 200
    assert page.redirect_chain[-1][0] == "/login/?next=%2Fadmin%2Fclinic%2Fclient%2F"
    assert 'name="next" value="/admin/clinic/client/"' in page.text
    signed_in = as_stranger.post(
        reverse("clinic:staff_sign_in"),
        {"email": email, "password": password, "next": "/admin/clinic/client/"},
        follow=True,
    )
    # Back to the page asked for: the admin for an admin, a clear refusal for anyone else.
    assert signed_in.redirect_chain == [("/admin/clinic/client/", 302)]
    assert signed_in.status_code == status
    assert shown in signed_in.text
