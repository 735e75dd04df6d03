"""The demo clinic loaded by scripts/demo."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from clinic.models import Client, Clinician, User
from sessions.models import Appointment, Service

pytestmark = pytest.mark.django_db


def load() -> str:
    output = io.StringIO()
    call_command("load_demo_clinic", stdout=output)
    return output.getvalue()


def test_the_demo_clinic_has_people_services_and_a_session_starting_soon() -> None:
    printed = load()

    assert Clinician.objects.count() == 2
    assert Service.objects.count() == 2
    assert Client.objects.count() == 4
    now = dt.datetime.now(dt.UTC)
    assert Appointment.objects.filter(
        starts_at__gt=now, starts_at__lte=now + dt.timedelta(minutes=10)
    ).exists()
    assert "maya.okafor@demo.clinic" in printed
    assert "clinic-demo-2026" in printed
    assert Client.objects.filter(red_flag_raised_at__isnull=False).count() == 1


def test_loading_again_adds_no_people(as_stranger) -> None:
    load()
    load()

    assert User.objects.count() == 2 + 4 + 1
    assert Service.objects.count() == 2


def test_the_printed_passwords_work() -> None:
    load()
    http = HttpClient()

    response = http.post(
        "/login/staff/", {"email": "maya.okafor@demo.clinic", "password": "clinic-demo-2026"}
    )

    assert response.status_code == 302


def test_the_demo_is_never_loaded_in_production(settings) -> None:
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="not loaded in production"):
        load()
    assert not User.objects.exists()
