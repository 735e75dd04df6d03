"""Every view and change of a client record or note is audited, and the log cannot be changed."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from clinic.models import AuditEvent
from sessions.models import ChatMessage
from tests.admin_forms import admin_form_data

pytestmark = pytest.mark.django_db

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (test)", "REMOTE_ADDR": "203.0.113.7"}


def test_a_clinician_viewing_a_record_is_logged_with_who_when_and_where(
    appointment, as_clinician, clinician
) -> None:
    url = reverse("dashboard:client_record", args=[appointment.client.uuid])
    as_clinician.get(url, **BROWSER)

    event = AuditEvent.objects.get(action="viewed")
    assert event.actor == clinician.user
    assert event.actor_email == clinician.user.email
    assert event.client == appointment.client
    assert event.object_type == "client"
    assert event.object_uuid == appointment.client.uuid
    assert event.ip_address == "203.0.113.7"
    assert event.user_agent == "Mozilla/5.0 (test)"
    assert event.path == url


def test_a_client_viewing_their_own_record_is_logged(appointment, as_client, client_record) -> None:
    as_client.get(reverse("dashboard:my_care"))

    assert AuditEvent.objects.filter(
        actor=client_record.user, action="viewed", client=client_record
    ).exists()


def test_adding_a_note_is_logged(appointment, as_clinician, clinician) -> None:
    as_clinician.post(
        reverse("dashboard:note_add", args=[appointment.client.uuid]), {"body": "Hip ER tight left"}
    )

    note = appointment.client.notes.get()
    event = AuditEvent.objects.get(object_type="clinician_note")
    assert event.action == "created"
    assert event.object_uuid == note.uuid
    assert event.actor == clinician.user


def test_a_profile_change_logs_the_names_of_the_changed_fields_not_their_values(
    appointment, as_client, client_record
) -> None:
    response = as_client.post(
        reverse("dashboard:my_profile"),
        {
            "full_name": "Ana Silva",
            "phone": "+351 91 234 5678",
            "date_of_birth": "1990-04-02",
            "time_zone": "Europe/Lisbon",
            "dominant_leg": "right",
            "emergency_contact_name": "",
            "emergency_contact_phone": "",
        },
    )

    assert response.status_code == 302
    client_record.refresh_from_db()
    assert client_record.phone == "+351 91 234 5678"
    assert client_record.user.time_zone == "Europe/Lisbon"
    event = AuditEvent.objects.get(action="updated", object_type="client")
    assert event.changes == ["phone", "time_zone"]
    assert "+351" not in str(event.changes)


def test_a_bad_profile_change_saves_nothing(appointment, as_client, client_record) -> None:
    response = as_client.post(
        reverse("dashboard:my_profile"),
        {
            "full_name": "",
            "phone": "???",
            "date_of_birth": "2999-01-01",
            "time_zone": "Nowhere",
            "dominant_leg": "right",
        },
    )

    assert response.status_code == 400
    assert "Enter a phone number" in response.text
    assert "cannot be in the future" in response.text
    client_record.refresh_from_db()
    assert client_record.user.full_name == "Ana Silva"
    assert not AuditEvent.objects.filter(action="updated").exists()


def test_the_application_cannot_change_or_delete_audit_events(appointment, as_clinician) -> None:
    as_clinician.get(reverse("dashboard:client_record", args=[appointment.client.uuid]))
    event = AuditEvent.objects.get()

    event.action = "created"
    with pytest.raises(PermissionDenied):
        event.save()
    with pytest.raises(PermissionDenied):
        event.delete()
    with pytest.raises(PermissionDenied):
        AuditEvent.objects.filter(pk=event.pk).update(action="created")
    with pytest.raises(PermissionDenied):
        AuditEvent.objects.all().delete()


def test_postgresql_refuses_to_change_the_audit_log_even_with_raw_sql(
    appointment, as_clinician
) -> None:
    as_clinician.get(reverse("dashboard:client_record", args=[appointment.client.uuid]))

    for statement in (
        "UPDATE clinic_auditevent SET action = 'created'",
        "DELETE FROM clinic_auditevent",
    ):
        with (
            pytest.raises(DatabaseError, match="append only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert AuditEvent.objects.get().action == "viewed"


def test_admins_read_the_log_but_cannot_add_change_or_delete(
    appointment, as_clinician, as_admin
) -> None:
    as_clinician.get(reverse("dashboard:client_record", args=[appointment.client.uuid]))
    event = AuditEvent.objects.get()

    listing = as_admin.get(reverse("admin:clinic_auditevent_changelist"))
    assert listing.status_code == 200
    assert "maya@clinic.example" in listing.text
    assert (
        as_admin.get(reverse("admin:clinic_auditevent_change", args=[event.pk])).status_code == 200
    )
    assert as_admin.get(reverse("admin:clinic_auditevent_add")).status_code == 403
    assert (
        as_admin.post(
            reverse("admin:clinic_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        as_admin.post(
            reverse("admin:clinic_auditevent_change", args=[event.pk]), {"action": "created"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk, action="viewed").exists()


def test_admin_views_and_changes_of_a_client_are_audited(appointment, as_admin, admin_user) -> None:
    url = reverse("admin:clinic_client_change", args=[appointment.client.pk])
    as_admin.get(url)

    assert AuditEvent.objects.filter(
        actor=admin_user, action="viewed", client=appointment.client
    ).exists()


def audit_rows(**filters) -> set[tuple]:
    return set(
        AuditEvent.objects.filter(**filters).values_list(
            "actor_email", "action", "object_type", "client__user__email"
        )
    )


def test_changing_a_client_in_the_admin_is_audited_with_the_changed_fields(
    appointment, as_admin
) -> None:
    url = reverse("admin:clinic_client_change", args=[appointment.client.pk])

    response = as_admin.post(url, admin_form_data(as_admin, url, phone="+351 91 000 0000"))

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="updated")
    assert (event.actor_email, event.object_type, event.client) == (
        "admin@clinic.example",
        "client",
        appointment.client,
    )
    assert event.changes == ["phone"]


def test_the_admin_user_page_of_a_client_is_audited(appointment, as_admin, clinician) -> None:
    as_admin.get(reverse("admin:clinic_user_change", args=[appointment.client.user.pk]))
    as_admin.get(reverse("admin:clinic_user_change", args=[clinician.user.pk]))

    # Only the client's page is about a client record.
    assert audit_rows() == {("admin@clinic.example", "viewed", "client", "ana@example.org")}


def test_renaming_a_client_on_the_admin_user_page_is_audited(appointment, as_admin) -> None:
    url = reverse("admin:clinic_user_change", args=[appointment.client.user.pk])

    response = as_admin.post(url, admin_form_data(as_admin, url, full_name="Ana Silva Costa"))

    assert response.status_code == 302
    appointment.client.user.refresh_from_db()
    assert appointment.client.user.full_name == "Ana Silva Costa"
    event = AuditEvent.objects.get(action="updated")
    assert (event.actor_email, event.object_type, event.client) == (
        "admin@clinic.example",
        "client",
        appointment.client,
    )
    assert event.changes == ["full_name"]


@pytest.mark.parametrize(
    "changelist", ["admin:clinic_user_changelist", "admin:clinic_client_changelist"]
)
def test_admin_lists_of_clients_audit_each_client_shown(
    appointment, other_appointment, as_admin, changelist: str
) -> None:
    listing = as_admin.get(reverse(changelist))

    assert listing.status_code == 200
    assert "ben@example.org" in listing.text
    assert audit_rows() == {
        ("admin@clinic.example", "viewed", "client", "ana@example.org"),
        ("admin@clinic.example", "viewed", "client", "ben@example.org"),
    }
    assert set(AuditEvent.objects.values_list("path", flat=True)) == {reverse(changelist)}

    as_admin.get(reverse(changelist), {"q": "Ben"})
    assert AuditEvent.objects.filter(client__user__email="ben@example.org").count() == 2
    assert AuditEvent.objects.filter(client__user__email="ana@example.org").count() == 1


def test_the_admin_appointment_page_with_its_chat_is_audited(appointment, as_admin) -> None:
    ChatMessage.objects.create(
        appointment=appointment,
        sender=appointment.client.user,
        sender_role="client",
        body="My left knee clicks on stairs",
        sent_at=appointment.starts_at,
    )

    page = as_admin.get(reverse("admin:virtual_sessions_appointment_change", args=[appointment.pk]))
    listing = as_admin.get(reverse("admin:virtual_sessions_appointment_changelist"))

    assert "My left knee clicks on stairs" in page.text
    assert "Ana Silva" in listing.text
    events = AuditEvent.objects.filter(action="viewed").order_by("id")
    assert [(e.object_type, e.object_uuid, e.client) for e in events] == [
        ("appointment", appointment.uuid, appointment.client),
        ("appointment", appointment.uuid, appointment.client),
    ]
    assert [e.path for e in events] == [
        reverse("admin:virtual_sessions_appointment_change", args=[appointment.pk]),
        reverse("admin:virtual_sessions_appointment_changelist"),
    ]


def test_refused_or_missing_admin_pages_are_not_audited(
    appointment, as_admin, as_clinician
) -> None:
    user_page = reverse("admin:clinic_user_change", args=[appointment.client.user.pk])

    assert as_clinician.get(user_page).status_code == 403
    assert as_admin.get(reverse("admin:clinic_user_change", args=[999_999])).status_code == 302
    assert as_clinician.get(reverse("admin:clinic_user_changelist")).status_code == 403

    assert not AuditEvent.objects.exists()
