"""No program email is lost and none turns an approval into an error: when the task cannot
reach the broker after the approval commits, or the mail server refuses until the task's
retries run out, the approval still succeeds and beat's sweep sends the program a few minutes
later, once. A program that went out is never sent again for the same revision.

These tests commit for real (transactional), so the on-commit queueing runs inside the request
as it does in production; tasks run eagerly unless the broker is refusing connections."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.models import Plan, PlanItem, PlanStatus, ProgramEmail, Reminder, ReminderStatus
from assessments.tasks import resend_program_emails, send_program_email
from clinic.emails import RESEND_AFTER
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan
from tests.broker import broker_refusing
from tests.conftest import minutes_later, signed_in
from tests.factories import make_admin
from tests.smtp import Inbox

pytestmark = pytest.mark.django_db(transaction=True)

APPROVED = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)
ANA = "ana@example.org"
QUEUEING = "queueing assessments.tasks.send_program_email"


@pytest.fixture
def draft(client_record, clinician, library, appointment, time_machine) -> Plan:
    """Ana's plan from Maya, waiting for approval at noon on 10 June."""
    time_machine.move_to(APPROVED - dt.timedelta(hours=1), tick=False)
    plan = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    time_machine.move_to(APPROVED, tick=False)
    return plan


def approve(as_clinician, plan: Plan):
    return as_clinician.post(reverse("assessments:plan_approve", args=[plan.uuid]), follow=True)


def change_a_dose(as_clinician, plan: Plan) -> None:
    item = PlanItem.objects.filter(phase__plan=plan, phase__number=1).first()
    response = as_clinician.post(
        reverse("assessments:item_dose", args=[plan.uuid, item.uuid]),
        {"sets": "4", "amount": "30" if item.hold_seconds else "10"},
    )
    assert response.status_code == 302


def test_approving_while_the_broker_is_down_succeeds_and_the_program_follows_once(
    as_clinician, draft, inbox: Inbox, caplog, time_machine
) -> None:
    with broker_refusing():
        response = approve(as_clinician, draft)

    # The clinician sees the approval, not an error page.
    assert response.status_code == 200
    assert "gets the program by email; it starts Thursday 11 June" in response.text
    draft.refresh_from_db()
    assert draft.status == PlanStatus.APPROVED
    assert Reminder.objects.filter(plan=draft, status=ReminderStatus.PENDING).exists()
    assert QUEUEING in caplog.text
    assert inbox.messages == []

    # Within the first minutes the task may still be on its way: the sweep leaves it.
    minutes_later(time_machine, RESEND_AFTER.total_seconds() / 60 - 0.5)
    assert resend_program_emails() == {"queued": 0}
    minutes_later(time_machine, 1)
    assert resend_program_emails() == {"queued": 1}
    [message] = inbox.to(ANA)
    assert message["Subject"] == "Your home program from Maya Okafor"
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == "home-program.pdf"

    for _ in range(3):
        minutes_later(time_machine, 30)
        assert resend_program_emails() == {"queued": 0}
    assert len(inbox.messages) == 1


def test_a_mail_server_refusing_until_the_retries_run_out_gets_the_program_later_once(
    as_clinician, draft, inbox: Inbox, caplog, time_machine, retries_run_out
) -> None:
    inbox.refuse_recipient[ANA] = "451 4.3.0 Mailbox busy, try again later"

    response = approve(as_clinician, draft)

    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.status == PlanStatus.APPROVED
    # The task tried seven times (six retries) and gave up.
    assert inbox.refused == [(ANA, "451 4.3.0 Mailbox busy, try again later")] * 7
    assert "SMTPRecipientsRefused" in caplog.text
    assert inbox.messages == []
    # Staff can see on the plan's page that the program has not reached the client yet.
    admin_page = signed_in(make_admin(email="head@clinic.example", full_name="Head")).get(
        reverse("admin:assessments_plan_change", args=[draft.pk])
    )
    assert admin_page.status_code == 200
    assert "Program emails" in admin_page.content.decode()
    assert ProgramEmail.objects.get(plan=draft).sent_at is None

    inbox.refuse_recipient.clear()
    minutes_later(time_machine, 6)
    assert resend_program_emails() == {"queued": 1}
    assert len(inbox.to(ANA)) == 1
    minutes_later(time_machine, 60)
    assert resend_program_emails() == {"queued": 0}
    assert len(inbox.messages) == 1


def test_a_program_that_went_out_is_never_sent_again_for_the_same_revision(
    as_clinician, draft, inbox: Inbox, time_machine
) -> None:
    assert approve(as_clinician, draft).status_code == 200
    assert len(inbox.to(ANA)) == 1
    [email] = ProgramEmail.objects.filter(plan=draft)
    assert (email.revision, email.sent_at) == (1, APPROVED)

    for _ in range(4):
        minutes_later(time_machine, 10)
        assert resend_program_emails() == {"queued": 0}
    # A task delivered twice by the broker, or a second click on "Approve", sends nothing more.
    assert send_program_email(draft.pk, 1) == "already sent"
    assert approve(as_clinician, draft).status_code == 200
    assert len(inbox.messages) == 1

    # A change the clinician sends is a new revision: it goes out, once.
    change_a_dose(as_clinician, draft)
    assert approve(as_clinician, draft).status_code == 200
    assert [m["Subject"] for m in inbox.to(ANA)][
        -1
    ] == "Your home program from Maya Okafor (updated)"
    minutes_later(time_machine, 10)
    assert resend_program_emails() == {"queued": 0}
    assert len(inbox.messages) == 2


def test_a_lost_program_is_sent_with_the_changes_the_client_already_sees(
    as_clinician, draft, inbox: Inbox, time_machine
) -> None:
    """Lost at approval, then changed without sending: the program page already shows the
    change, so the email the sweep sends has it too; it is the first program she gets."""
    with broker_refusing():
        assert approve(as_clinician, draft).status_code == 200
    change_a_dose(as_clinician, draft)
    draft.refresh_from_db()
    assert (draft.revision, draft.sent_revision) == (2, 1)

    minutes_later(time_machine, 6)
    assert resend_program_emails() == {"queued": 1}
    [message] = inbox.to(ANA)
    assert message["Subject"] == "Your home program from Maya Okafor"
    text = message.get_body(("plain",)).get_content()
    changed = PlanItem.objects.filter(phase__plan=draft, phase__number=1).first()
    assert changed.dose in text


def test_a_lost_program_since_replaced_or_a_week_old_is_not_sent(
    as_clinician, client_record, clinician, draft, inbox: Inbox, time_machine
) -> None:
    # Lost, then the clinician sent a change: she gets the newer revision, and only that.
    with broker_refusing():
        assert approve(as_clinician, draft).status_code == 200
    change_a_dose(as_clinician, draft)
    assert approve(as_clinician, draft).status_code == 200
    assert len(inbox.to(ANA)) == 1
    minutes_later(time_machine, 6)
    assert resend_program_emails() == {"queued": 0}

    # Lost, then a newer program was approved for her: the old one is not sent after it.
    inbox.clear()
    newer = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    with broker_refusing():
        assert approve(as_clinician, newer).status_code == 200
    newest = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    minutes_later(time_machine, 1)
    assert approve(as_clinician, newest).status_code == 200
    assert len(inbox.to(ANA)) == 1
    minutes_later(time_machine, 6)
    assert resend_program_emails() == {"queued": 0}
    assert send_program_email(newer.pk, 1) == "no longer needed"
    assert len(inbox.to(ANA)) == 1

    # Lost and found only after a week (beat was down): too late to be news.
    inbox.clear()
    with broker_refusing():
        change_a_dose(as_clinician, newest)
        assert approve(as_clinician, newest).status_code == 200
    time_machine.move_to(timezone.now() + dt.timedelta(days=7, minutes=1), tick=False)
    assert resend_program_emails() == {"queued": 0}
    assert inbox.messages == []
