"""The clinician's review of the proposed plan, the program email (through the real SMTP server,
parsed back), the client's program page and the one-click links of the emails."""

import datetime as dt
import re

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from assessments.models import (
    PainLog,
    Plan,
    PlanItem,
    PlanStatus,
    PracticeLog,
    Reminder,
    ReminderPreference,
    ReminderStatus,
)
from assessments.programs.approval import plan_approve
from assessments.programs.links import done_url, pain_url, reminders_url, unsubscribe_url
from assessments.programs.services import plan_adherence
from clinic.audit import SYSTEM
from tests.assessments.conftest import ANKLE_AND_VALGUS, completed_assessment, make_plan

pytestmark = pytest.mark.django_db
APPROVED = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)  # the program starts on 11 June
DAY_ONE = dt.datetime(2026, 6, 11, 9, tzinfo=dt.UTC)


@pytest.fixture
def draft(client_record, clinician, library, appointment) -> Plan:
    """Ana's plan from Maya (who sees Ana's record: Ana booked with her)."""
    return make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)


@pytest.fixture
def approved(draft, clinician, django_capture_on_commit_callbacks, inbox) -> Plan:
    with django_capture_on_commit_callbacks(execute=True):
        plan = plan_approve(plan=draft, actor=clinician.user, context=SYSTEM, now=APPROVED)
    return plan


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


# --- The clinician's review -------------------------------------------------------------------


def test_the_draft_names_the_finding_each_exercise_answers(as_clinician, draft) -> None:
    page = as_clinician.get(reverse("assessments:plan", args=[draft.uuid]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Waiting for your approval" in html
    for heading in ("Phase 1: Restore", "Phase 2: Activate", "Phase 3: Strengthen"):
        assert heading in html
    # The ankle's exercises answer both of its findings.
    assert "Answers: Knee-to-wall: right ankle stiffer; Right ankle dorsiflexion restricted" in html
    assert "Answers: Right knee tracks inward in the lunge" in html
    assert "Then: a re-assessment in week 9." in html
    assert "Approve and send to Ana Silva" in html


def items_of(plan: Plan, number: int) -> list[PlanItem]:
    return list(plan.phases.get(number=number).items.select_related("exercise"))


def test_the_clinician_reorders_swaps_doses_removes_and_notes(as_clinician, draft) -> None:
    first, second, *_ = items_of(draft, 1)
    move = reverse("assessments:item_move", args=[draft.uuid, second.uuid])
    assert as_clinician.post(move, {"direction": "up"}).status_code == 302
    assert [i.pk for i in items_of(draft, 1)][:2] == [second.pk, first.pk]

    swap_url = reverse("assessments:item_swap", args=[draft.uuid, first.uuid])
    replacement = (
        type(first.exercise)
        .objects.filter(phase="restore")
        .exclude(pk__in=[i.exercise_id for i in items_of(draft, 1)])
        .first()
    )
    as_clinician.post(swap_url, {"exercise": str(replacement.uuid)})
    first.refresh_from_db()
    assert first.exercise == replacement
    # Swapping in an exercise of another phase is refused.
    strengthen = type(first.exercise).objects.filter(phase="strengthen").first()
    response = as_clinician.post(swap_url, {"exercise": str(strengthen.uuid)}, follow=True)
    assert "Choose an exercise of this phase" in response.content.decode()
    response = as_clinician.post(swap_url, {"exercise": "nonsense"}, follow=True)
    assert "Choose an exercise from the list." in response.content.decode()

    dose_url = reverse("assessments:item_dose", args=[draft.uuid, first.uuid])
    amount = 45 if first.hold_seconds else 12
    as_clinician.post(dose_url, {"sets": "2", "amount": str(amount)})
    first.refresh_from_db()
    assert first.sets == 2
    assert (first.hold_seconds or first.reps) == amount
    response = as_clinician.post(dose_url, {"sets": "0", "amount": "x"}, follow=True)
    assert "enter whole numbers for the dose" in response.content.decode()
    first.refresh_from_db()
    assert first.sets == 2

    as_clinician.post(
        reverse("assessments:plan_note", args=[draft.uuid]),
        {"note": "Little and often: ten minutes a day."},
    )
    draft.refresh_from_db()
    assert draft.note == "Little and often: ten minutes a day."

    count = len(items_of(draft, 2))
    as_clinician.post(
        reverse("assessments:item_remove", args=[draft.uuid, items_of(draft, 2)[0].uuid])
    )
    assert len(items_of(draft, 2)) == count - 1


@pytest.mark.parametrize(("persona", "status"), [("as_other_clinician", 404), ("as_client", 403)])
def test_nobody_else_reviews_or_changes_the_plan(request, persona, status, draft) -> None:
    http = request.getfixturevalue(persona)
    item = items_of(draft, 1)[0]
    assert http.get(reverse("assessments:plan", args=[draft.uuid])).status_code == status
    assert http.post(reverse("assessments:plan_approve", args=[draft.uuid])).status_code == status
    assert (
        http.post(
            reverse("assessments:item_dose", args=[draft.uuid, item.uuid]),
            {"sets": "9", "amount": "9"},
        ).status_code
        == status
    )
    draft.refresh_from_db()
    assert draft.status == PlanStatus.DRAFT
    item.refresh_from_db()
    assert item.sets != 9


def test_an_admin_reads_the_plan_but_cannot_approve_it(as_admin, draft) -> None:
    assert as_admin.get(reverse("assessments:plan", args=[draft.uuid])).status_code == 200
    assert as_admin.post(reverse("assessments:plan_approve", args=[draft.uuid])).status_code == 404


# --- Approval and the program email -------------------------------------------------------------


def test_approving_asks_for_confirmation_first_without_javascript(
    as_clinician, draft, inbox
) -> None:
    url = reverse("assessments:plan_approve", args=[draft.uuid])

    plan_page = as_clinician.get(reverse("assessments:plan", args=[draft.uuid])).content.decode()
    confirm = as_clinician.get(url)

    # The plan's button only opens the confirmation (a GET form); nothing on it approves.
    assert f'<form method="get" action="{url}"' in plan_page
    assert f'<form method="post" action="{url}"' not in plan_page
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Approve and send the program to Ana Silva?" in html
    assert "ana@example.org" in html
    assert "It starts tomorrow on their calendar" in html
    assert f'<form method="post" action="{url}">' in html
    assert "Yes, approve and send" in html
    draft.refresh_from_db()
    assert not draft.is_approved
    assert not Reminder.objects.filter(plan=draft).exists()
    assert not inbox.messages


def test_sending_an_update_asks_for_confirmation_and_there_is_none_without_changes(
    as_clinician, approved, inbox
) -> None:
    url = reverse("assessments:plan_approve", args=[approved.uuid])
    inbox.clear()

    unchanged = as_clinician.get(url, follow=True).content.decode()
    item = items_of(approved, 1)[0]
    as_clinician.post(
        reverse("assessments:item_dose", args=[approved.uuid, item.uuid]),
        {"sets": "4", "amount": "12"},
    )
    changed = as_clinician.get(url)

    assert "There is nothing to send." in unchanged
    assert changed.status_code == 200
    assert "Send the updated program to Ana Silva?" in changed.content.decode()
    assert "Yes, send the update" in changed.content.decode()
    assert not inbox.messages


def test_approving_emails_the_program_with_a_pdf(
    as_clinician, draft, inbox, django_capture_on_commit_callbacks, time_machine
) -> None:
    time_machine.move_to(APPROVED, tick=False)
    draft.note = "Little and often: ten minutes a day."
    draft.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_clinician.post(
            reverse("assessments:plan_approve", args=[draft.uuid]), follow=True
        )
    assert "gets the program by email; it starts Thursday 11 June" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == PlanStatus.APPROVED
    assert draft.starts_on == dt.date(2026, 6, 11)
    assert Reminder.objects.filter(plan=draft, status=ReminderStatus.PENDING).exists()

    [message] = inbox.to("ana@example.org")
    assert message["Subject"] == "Your home program from Maya Okafor"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Little and often: ten minutes a day." in part
        assert "Thursday 11 June" in part
    assert "PHASE 1: RESTORE" in text
    assert "Phase 2: Activate" in html
    for item in PlanItem.objects.filter(phase__plan=draft).select_related("exercise"):
        assert item.exercise.name in text
        assert item.dose in text
        assert item.exercise.cues[0] in text
    # Renders without images and on a phone: no <img>, a viewport, a 600 px column.
    assert "<img" not in html
    assert 'name="viewport"' in html
    assert "max-width:600px" in html
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == "home-program.pdf"
    assert pdf.get_content_type() == "application/pdf"
    data = pdf.get_content()
    assert data.startswith(b"%PDF-")
    assert b"Home program for Ana Silva" in data
    assert len(data) > 3000
    # Its links work.
    links = re.findall(r'href="([^"]+)"', html)
    program_link = next(link for link in links if link.endswith("/program/"))
    reminders_link = next(link for link in links if "/reminders/" in link)
    ana = HttpClient()
    ana.force_login(draft.client.user)
    assert ana.get(path_of(program_link)).status_code == 200
    assert HttpClient().get(path_of(reminders_link)).status_code == 200


def test_a_change_after_approval_is_sent_again_and_replaces_the_reminders(
    as_clinician, approved, inbox, django_capture_on_commit_callbacks, time_machine
) -> None:
    time_machine.move_to(APPROVED + dt.timedelta(hours=1), tick=False)
    inbox.clear()
    item = items_of(approved, 1)[0]
    as_clinician.post(
        reverse("assessments:item_dose", args=[approved.uuid, item.uuid]),
        {"sets": "4", "amount": "30" if item.hold_seconds else "10"},
    )
    page = as_clinician.get(reverse("assessments:plan", args=[approved.uuid])).content.decode()
    assert "You changed the approved program" in page
    before = set(Reminder.objects.filter(plan=approved, status="pending").values_list("pk"))
    with django_capture_on_commit_callbacks(execute=True):
        as_clinician.post(reverse("assessments:plan_approve", args=[approved.uuid]))
    [message] = inbox.to("ana@example.org")
    assert message["Subject"] == "Your home program from Maya Okafor (updated)"
    after = set(Reminder.objects.filter(plan=approved, status="pending").values_list("pk"))
    assert after
    assert before.isdisjoint(after)


# --- The client's program page ------------------------------------------------------------------


def test_before_approval_the_client_has_no_program(as_client, draft) -> None:
    page = as_client.get(reverse("assessments:program"))
    assert b"has not sent you a home program yet" in page.content


def test_the_client_ticks_off_exercises_and_rates_pain(as_client, approved, time_machine) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    page = as_client.get(reverse("assessments:program")).content.decode()
    today = items_of(approved, 1)
    assert "Today, Thursday 11 June" in page
    for item in today:
        assert f"Mark done: {item.exercise.name}" in page
    done = reverse("assessments:program_done", args=[approved.uuid])
    as_client.post(done, {"item": str(today[0].uuid), "done": "1"})
    as_client.post(done, {"item": str(today[0].uuid), "done": "1"})  # twice: one entry
    assert PracticeLog.objects.filter(item=today[0], day=dt.date(2026, 6, 11)).count() == 1
    page = as_client.get(reverse("assessments:program")).content.decode()
    assert f"✓ Done: {today[0].exercise.name}" in page
    # Adherence of week 1 so far: 1 done of the day's planned exercises.
    assert f"<td>1</td><td>{len(today)}</td><td>{round(100 / len(today))}%</td>" in page.replace(
        "\n", ""
    ).replace("      ", "")
    as_client.post(done, {"item": str(today[0].uuid), "done": "0"})
    assert not PracticeLog.objects.exists()

    pain = reverse("assessments:program_pain", args=[approved.uuid])
    response = as_client.post(pain, {"score": "4"}, follow=True)
    assert "Pain today: 4 of 10" in response.content.decode()
    assert PainLog.objects.get().score == 4
    response = as_client.post(pain, {"score": "11"}, follow=True)
    assert "Choose a number from 0 to 10." in response.content.decode()
    assert PainLog.objects.get().score == 4
    # An exercise of a later phase cannot be ticked today.
    later = items_of(approved, 3)[0]
    response = as_client.post(done, {"item": str(later.uuid), "done": "1"}, follow=True)
    assert "not planned in this phase" in response.content.decode()
    response = as_client.post(done, {"item": "not-a-uuid", "done": "1"}, follow=True)
    assert "not part of your program" in response.content.decode()


def test_the_program_says_it_starts_until_it_has_started_on_the_clients_clock(
    as_client, as_clinician, client_record, clinician, library, appointment, time_machine
) -> None:
    client_record.user.time_zone = "America/Los_Angeles"
    client_record.user.save(update_fields=["time_zone"])
    # Approved at 05:00 on 10 June in Los Angeles: the program starts on 11 June there.
    plan = make_plan(
        client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=APPROVED
    )
    assert plan.starts_on == dt.date(2026, 6, 11)

    def pages() -> tuple[str, str]:
        own = as_client.get(reverse("assessments:program")).content.decode()
        record = as_clinician.get(reverse("dashboard:client_record", args=[client_record.uuid]))
        return own, record.content.decode()

    # 05:00 UTC on 11 June is 22:00 on 10 June in Los Angeles (summer time, UTC-7).
    time_machine.move_to(dt.datetime(2026, 6, 11, 5, tzinfo=dt.UTC), tick=False)
    own, record = pages()
    assert "Starts Thursday 11 June 2026" in own
    assert "Started" not in own
    assert "· starts 11 Jun 2026" in record
    # 07:00 UTC is midnight there: the first day has begun.
    time_machine.move_to(dt.datetime(2026, 6, 11, 7, tzinfo=dt.UTC), tick=False)
    own, record = pages()
    assert "Started Thursday 11 June 2026" in own
    assert "· started 11 Jun 2026" in record


def test_another_client_cannot_log_into_someone_elses_program(
    as_other_client, approved, time_machine
) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    item = items_of(approved, 1)[0]
    response = as_other_client.post(
        reverse("assessments:program_done", args=[approved.uuid]), {"item": str(item.uuid)}
    )
    assert response.status_code == 404
    assert (
        as_other_client.post(
            reverse("assessments:program_pain", args=[approved.uuid]), {"score": "3"}
        ).status_code
        == 404
    )
    assert not PracticeLog.objects.exists()
    assert (
        b"has not sent you a home program"
        in as_other_client.get(reverse("assessments:program")).content
    )


def test_clinicians_have_no_program_page(as_clinician) -> None:
    assert as_clinician.get(reverse("assessments:program")).status_code == 403


# --- One-click links --------------------------------------------------------------------------


def test_a_pain_link_records_on_its_page_and_a_reused_link_changes_nothing(
    approved, time_machine
) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    url = path_of(pain_url(plan_uuid=str(approved.uuid), day=dt.date(2026, 6, 11), score=3))
    browser = HttpClient(enforce_csrf_checks=True)
    page = browser.get(url)
    # Opening the link (as a mail scanner would) records nothing; the page's script submits.
    assert page.status_code == 200
    assert b"data-auto-submit" in page.content
    assert not PainLog.objects.exists()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    saved = browser.post(url, {"csrfmiddlewaretoken": token})
    assert b"Thank you: pain 3 of 10 saved" in saved.content
    again = browser.post(url, {"csrfmiddlewaretoken": token})
    assert b"Already saved: pain 3 of 10" in again.content
    assert PainLog.objects.get().score == 3
    # Another score from the same email replaces the day's rating.
    other = path_of(pain_url(plan_uuid=str(approved.uuid), day=dt.date(2026, 6, 11), score=5))
    HttpClient().post(other)
    assert PainLog.objects.get().score == 5


def test_a_done_link_ticks_the_exercise_once(approved, time_machine) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    item = items_of(approved, 1)[0]
    url = path_of(
        done_url(plan_uuid=str(approved.uuid), item_uuid=str(item.uuid), day=dt.date(2026, 6, 11))
    )
    assert b"Tick it off" in HttpClient().get(url).content
    assert b"Well done" in HttpClient().post(url).content
    assert b"Already ticked off" in HttpClient().post(url).content
    assert PracticeLog.objects.get().source == "email"


def test_tampered_expired_and_early_links_are_refused_with_a_reason(approved, time_machine) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    url = path_of(pain_url(plan_uuid=str(approved.uuid), day=dt.date(2026, 6, 11), score=3))
    tampered = url.replace(url.split("/")[-2], url.split("/")[-2][:-3] + "abc")
    response = HttpClient().post(tampered)
    assert response.status_code == 400
    assert b"This link is not valid" in response.content
    future = path_of(pain_url(plan_uuid=str(approved.uuid), day=dt.date(2026, 6, 13), score=3))
    response = HttpClient().post(future)
    assert response.status_code == 400
    assert b"That day has not come yet." in response.content
    time_machine.move_to(DAY_ONE + dt.timedelta(days=8), tick=False)
    response = HttpClient().post(url)
    assert response.status_code == 410
    assert b"This link has expired" in response.content
    assert not PainLog.objects.exists()
    assert HttpClient().get("/program/pain/garbage/").status_code == 400


def test_one_click_unsubscribe_stops_reminders_and_is_idempotent(approved) -> None:
    url = path_of(unsubscribe_url(client_uuid=str(approved.client.uuid)))
    # Mail services POST without a page or a CSRF token (RFC 8058).
    mail_service = HttpClient(enforce_csrf_checks=True)
    first = mail_service.post(url, {"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200
    assert b"Reminders stopped" in first.content
    assert not Reminder.objects.filter(status=ReminderStatus.PENDING).exists()
    stopped_at = ReminderPreference.objects.get().stopped_at
    second = mail_service.post(url, {"List-Unsubscribe": "One-Click"})
    assert second.status_code == 200
    assert ReminderPreference.objects.get().stopped_at == stopped_at
    # Opened in a browser it asks first.
    assert b"Stop all reminders" in HttpClient().get(url).content
    assert HttpClient().post(url.replace("/reminders/", "/reminders/x")).status_code == 400


def test_the_client_changes_the_reminder_time_by_link(approved, time_machine) -> None:
    time_machine.move_to(APPROVED + dt.timedelta(minutes=5), tick=False)
    url = path_of(reminders_url(client_uuid=str(approved.client.uuid)))
    browser = HttpClient()
    page = browser.get(url)
    assert b"08:00" in page.content
    response = browser.post(url, {"action": "time", "local_time": "07:30"}, follow=True)
    assert b"Reminders will come at 07:30 (Europe/London)." in response.content
    due = Reminder.objects.filter(plan=approved, status="pending").values_list("due_at", flat=True)
    assert {moment.time() for moment in due} == {dt.time(6, 30)}  # 07:30 BST
    bad = browser.post(url, {"action": "time", "local_time": "25:99"})
    assert bad.status_code == 400
    assert b"Enter a time such as 07:30." in bad.content
    browser.post(url, {"action": "stop"})
    assert not Reminder.objects.filter(status="pending").exists()
    browser.post(url, {"action": "start"})
    assert Reminder.objects.filter(status="pending").exists()
    assert timezone.now() < min(
        Reminder.objects.filter(status="pending").values_list("due_at", flat=True)
    )


def test_my_care_links_to_the_program_and_the_completed_results(as_client, approved) -> None:
    html = as_client.get(reverse("dashboard:my_care")).content.decode()
    assert "Open my program: today's exercises" in html
    assert reverse("assessments:detail", args=[approved.assessment.uuid]) in html


def test_my_care_before_any_program(as_client, client_record) -> None:
    html = as_client.get(reverse("dashboard:my_care")).content.decode()
    assert "Your home program arrives by email after your assessment" in html
    assert "/assessments/" not in html


# --- Changes after approval keep what the client logged ----------------------------------------


def week_one(plan: Plan, today: dt.date) -> tuple[int, int]:
    [week] = [w for w in plan_adherence(plan, today=today) if w.week == 1]
    return week.done, week.planned


def test_removing_an_exercise_after_approval_keeps_the_clients_logs(
    as_client, as_clinician, approved, time_machine
) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    today = items_of(approved, 1)
    gone = today[0]
    as_client.post(
        reverse("assessments:program_done", args=[approved.uuid]),
        {"item": str(gone.uuid), "done": "1"},
    )
    assert week_one(approved, dt.date(2026, 6, 11)) == (1, len(today))

    # The same afternoon the clinician takes it out of the program.
    time_machine.move_to(DAY_ONE + dt.timedelta(hours=5), tick=False)
    response = as_clinician.post(
        reverse("assessments:item_remove", args=[approved.uuid, gone.uuid]), follow=True
    )
    assert f"Removed {gone.exercise.name}" in response.content.decode()
    # The log and the adherence already recorded are as they were.
    assert PracticeLog.objects.filter(item=gone, day=dt.date(2026, 6, 11)).exists()
    assert week_one(approved, dt.date(2026, 6, 11)) == (1, len(today))
    gone.refresh_from_db()
    assert gone.removed_on == dt.date(2026, 6, 11)
    # From the next day it is no longer planned, and no longer on the client's page.
    time_machine.move_to(DAY_ONE + dt.timedelta(days=1), tick=False)
    assert week_one(approved, dt.date(2026, 6, 12)) == (1, len(today) + len(today) - 1)
    page = as_client.get(reverse("assessments:program")).content.decode()
    assert f"Mark done: {gone.exercise.name}" not in page
    assert f"Mark done: {today[1].exercise.name}" in page
    # A done link of an earlier email cannot tick it any more, for a day after it went.
    url = path_of(
        done_url(plan_uuid=str(approved.uuid), item_uuid=str(gone.uuid), day=dt.date(2026, 6, 12))
    )
    refused = HttpClient().post(url)
    assert refused.status_code == 400
    assert b"was removed from your program" in refused.content
    assert PracticeLog.objects.count() == 1
    # The clinician's page says it was removed, and offers no changes to it.
    html = as_clinician.get(reverse("assessments:plan", args=[approved.uuid])).content.decode()
    assert "Removed from the program on Thursday 11 June" in html
    assert reverse("assessments:item_dose", args=[approved.uuid, gone.uuid]) not in html
    # Removing it again changes nothing.
    again = as_clinician.post(
        reverse("assessments:item_remove", args=[approved.uuid, gone.uuid]), follow=True
    )
    assert "already removed" in again.content.decode()
    gone.refresh_from_db()
    assert gone.removed_on == dt.date(2026, 6, 11)


def test_swapping_an_exercise_after_approval_keeps_the_log_of_the_old_one(
    as_client, as_clinician, approved, time_machine
) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    old = items_of(approved, 1)[0]
    old_exercise = old.exercise
    as_client.post(
        reverse("assessments:program_done", args=[approved.uuid]),
        {"item": str(old.uuid), "done": "1"},
    )
    time_machine.move_to(DAY_ONE + dt.timedelta(days=1), tick=False)
    replacement = (
        type(old.exercise)
        .objects.filter(phase="restore")
        .exclude(pk__in=[i.exercise_id for i in items_of(approved, 1)])
        .first()
    )
    as_clinician.post(
        reverse("assessments:item_swap", args=[approved.uuid, old.uuid]),
        {"exercise": str(replacement.uuid)},
    )
    # What the client did on day one is still the exercise they did.
    log = PracticeLog.objects.get()
    assert log.item.exercise == old_exercise
    assert week_one(approved, dt.date(2026, 6, 11)) == (1, len(items_of(approved, 1)) - 1)
    page = as_client.get(reverse("assessments:program")).content.decode()
    assert f"Mark done: {replacement.name}" in page
    assert f"Mark done: {old_exercise.name}" not in page
    new = PlanItem.objects.get(phase__plan=approved, exercise=replacement)
    assert new.position == old.position
    assert new.answers == old.answers


def test_the_program_email_tells_the_clients_own_reminder_time_and_zone(
    clinician, library, inbox, django_capture_on_commit_callbacks
) -> None:
    from assessments.programs.reminders import reminder_time_set
    from tests import factories

    client = factories.make_client(
        email="rosa@example.org", full_name="Rosa Diaz", time_zone="America/New_York"
    )
    plan = make_plan(client=client, clinician=clinician, values=ANKLE_AND_VALGUS)
    reminder_time_set(client=client, local_time=dt.time(18, 45), now=APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        plan_approve(plan=plan, actor=clinician.user, context=SYSTEM, now=APPROVED)
    [message] = inbox.to("rosa@example.org")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "08:00" not in part
        assert "Reminders come at 18:45 your time (America/New_York)" in part


def test_the_program_email_of_a_client_who_stopped_reminders_says_they_are_off(
    clinician, library, inbox, django_capture_on_commit_callbacks
) -> None:
    from assessments.programs.reminders import reminders_stop
    from tests import factories

    client = factories.make_client(email="rosa@example.org", full_name="Rosa Diaz")
    plan = make_plan(client=client, clinician=clinician, values=ANKLE_AND_VALGUS)
    reminders_stop(client=client, now=APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        plan_approve(plan=plan, actor=clinician.user, context=SYSTEM, now=APPROVED)
    [message] = inbox.to("rosa@example.org")
    for part in (message.get_body(("plain",)), message.get_body(("html",))):
        assert "Reminders are off: turn them back on" in part.get_content()


# --- A newer plan supersedes older drafts --------------------------------------------------------


def test_a_newer_plan_supersedes_the_older_draft_which_is_kept_out_of_the_queue(
    as_clinician, client_record, clinician, library, appointment, time_machine
) -> None:
    first_at = dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC)
    second_at = dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC)
    time_machine.move_to(first_at, tick=False)
    older = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    queue = as_clinician.get(reverse("dashboard:plans_waiting")).content.decode()
    assert str(older.uuid) in queue
    # Two weeks later the client is assessed again and that assessment gets its own plan.
    time_machine.move_to(second_at, tick=False)
    newer = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    older.refresh_from_db()
    assert older.status == PlanStatus.SUPERSEDED
    assert older.superseded_by == newer
    assert older.superseded_at == second_at
    # Kept, with its exercises, not deleted.
    assert PlanItem.objects.filter(phase__plan=older).exists()
    queue = as_clinician.get(reverse("dashboard:plans_waiting")).content.decode()
    assert str(newer.uuid) in queue
    assert str(older.uuid) not in queue
    # Its page says so and links to the newer plan; nothing on it can be changed any more.
    html = as_clinician.get(reverse("assessments:plan", args=[older.uuid])).content.decode()
    assert "Superseded on 15 Jun 2026 by the plan of a later assessment" in html
    assert reverse("assessments:plan", args=[newer.uuid]) in html
    assert "Approve and send" not in html
    assert reverse(
        "assessments:item_remove", args=[older.uuid, items_of(older, 1)[0].uuid]
    ) not in (html)
    response = as_clinician.post(
        reverse("assessments:plan_approve", args=[older.uuid]), follow=True
    )
    assert "A newer plan replaced this draft" in response.content.decode()
    response = as_clinician.post(
        reverse("assessments:plan_note", args=[older.uuid]), {"note": "Hello"}, follow=True
    )
    assert response.status_code == 200
    assert "A newer plan replaced this draft" in response.content.decode()
    older.refresh_from_db()
    assert older.status == PlanStatus.SUPERSEDED
    assert older.note == ""
    assert older.approved_at is None
    # The change is audited as the system's.
    from clinic.models import AuditEvent

    assert AuditEvent.objects.filter(
        object_type="plan", object_uuid=older.uuid, action="updated", changes=["status"]
    ).exists()


def test_an_approved_program_is_not_superseded_and_a_late_plan_of_an_older_assessment_is(
    client_record, clinician, library, time_machine
) -> None:
    from assessments.programs.services import plan_generate

    time_machine.move_to(dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC), tick=False)
    approved = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=dt.datetime(2026, 6, 1, 11, tzinfo=dt.UTC),
    )
    # An assessment completed on 10 June whose plan was not proposed then (the queue was down).
    time_machine.move_to(dt.datetime(2026, 6, 10, 10, tzinfo=dt.UTC), tick=False)
    late = completed_assessment(
        client=client_record,
        clinician=clinician,
        values={"knee_to_wall.right.1.ktw_cm": 8},
    )
    time_machine.move_to(dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC), tick=False)
    newest = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    approved.refresh_from_db()
    assert approved.status == PlanStatus.APPROVED
    # Proposed at last, it is already older than the 15 June plan: superseded from the start.
    late_plan = plan_generate(assessment_id=late.pk, now=timezone.now())
    assert late_plan.status == PlanStatus.SUPERSEDED
    assert late_plan.superseded_by == newest
    newest.refresh_from_db()
    assert newest.status == PlanStatus.DRAFT


# --- Nothing found: a maintenance program, end to end -----------------------------------------

NOTHING_FOUND = {
    "knee_to_wall.left.1.ktw_cm": 12,
    "knee_to_wall.right.1.ktw_cm": 12.5,
    "lunge.left.1.knee_position": "over_mid_foot",
    "lunge.right.1.knee_position": "over_mid_foot",
}


def test_with_no_findings_a_maintenance_program_says_so_from_review_to_reminder(
    client_record,
    clinician,
    library,
    appointment,
    as_clinician,
    as_client,
    inbox,
    django_capture_on_commit_callbacks,
    time_machine,
) -> None:
    from assessments.programs.emails import reminder_email
    from assessments.programs.reminders import reminders_dispatch

    plan = make_plan(client=client_record, clinician=clinician, values=NOTHING_FOUND)
    assert plan.maintenance
    assert not plan.assessment.findings.exists()
    review = as_clinician.get(reverse("assessments:plan", args=[plan.uuid])).content.decode()
    assert "The assessment found nothing to work on: this is a general maintenance program." in (
        review
    )
    assert "Phase 1: Maintain" in review
    assert "Answers: No findings: general maintenance" in review

    time_machine.move_to(APPROVED, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        as_clinician.post(reverse("assessments:plan_approve", args=[plan.uuid]))
    [message] = inbox.to("ana@example.org")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Your assessment found nothing that needs work" in part
        assert "general maintenance program" in part
    assert "PHASE 1: MAINTAIN" in text
    items = items_of(plan, 1)
    assert 1 <= len(items) <= 4
    for item in items:
        assert item.exercise.maintenance
        assert item.exercise.name in text

    time_machine.move_to(DAY_ONE, tick=False)
    page = as_client.get(reverse("assessments:program")).content.decode()
    assert "general maintenance program" in page
    assert f"Mark done: {items[0].exercise.name}" in page
    inbox.clear()
    time_machine.move_to(dt.datetime(2026, 6, 11, 7, 0, 5, tzinfo=dt.UTC), tick=False)
    assert reminders_dispatch(now=timezone.now, build=reminder_email).sent == 1
    [reminder] = inbox.to("ana@example.org")
    assert "Today's exercises (Maintain phase)" in reminder.get_body(("plain",)).get_content()


def test_expired_done_and_settings_links_are_refused_and_change_nothing(
    approved, time_machine
) -> None:
    time_machine.move_to(DAY_ONE, tick=False)
    item = items_of(approved, 1)[0]
    done = path_of(
        done_url(plan_uuid=str(approved.uuid), item_uuid=str(item.uuid), day=dt.date(2026, 6, 11))
    )
    settings_link = path_of(reminders_url(client_uuid=str(approved.client.uuid)))
    unsubscribe = path_of(unsubscribe_url(client_uuid=str(approved.client.uuid)))
    pending = Reminder.objects.filter(plan=approved, status=ReminderStatus.PENDING).count()

    # A day's "done" link lasts a week.
    time_machine.move_to(DAY_ONE + dt.timedelta(days=7, hours=1), tick=False)
    for response in (HttpClient().get(done), HttpClient().post(done)):
        assert response.status_code == 410
        assert b"This link has expired" in response.content
    assert not PracticeLog.objects.exists()
    # Reminder settings links last 400 days; after that they explain and do nothing.
    assert HttpClient().get(settings_link).status_code == 200
    time_machine.move_to(DAY_ONE + dt.timedelta(days=401), tick=False)
    browser = HttpClient()
    page = browser.get(settings_link)
    assert page.status_code == 410
    assert b"This link has expired" in page.content
    assert browser.post(settings_link, {"action": "stop"}).status_code == 410
    assert browser.post(settings_link, {"action": "time", "local_time": "06:00"}).status_code == 410
    assert HttpClient().post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 410
    assert not ReminderPreference.objects.filter(stopped_at__isnull=False).exists()
    assert not ReminderPreference.objects.exclude(local_time=dt.time(8)).exists()
    assert Reminder.objects.filter(plan=approved, status=ReminderStatus.PENDING).count() == pending
