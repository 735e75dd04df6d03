"""Every admin page of the clinic's own models opens for a clinic admin, and for nobody else."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db.models import Model
from django.urls import reverse

from assessments.reminders import preference_for
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
    for persona in (as_clinician, as_client, as_stranger):
        for page in pages:
            response = persona.get(page)
            assert response.status_code == 302, page
            assert response["Location"].startswith(reverse("admin:login")), page
