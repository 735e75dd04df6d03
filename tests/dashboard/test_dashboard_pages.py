"""The clinician's dashboard: today and this week on the clinician's clock, the client list
with its sorting, the client page with assessments, findings, program, adherence, reminders,
room events and progress charts, and the queue of plans waiting for approval. Every page runs
the same number of queries however much data there is."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import (
    Assessment,
    PlanStatus,
    PracticeLog,
    Reminder,
    ReminderKind,
    ReminderStatus,
    ResultValue,
)
from assessments.programs.approval import plan_approve
from assessments.programs.services import plan_generate
from clinic.audit import SYSTEM
from clinic.models import KneePainSide, PainDuration
from clinic.services import intake_submit
from sessions.models import Appointment, AppointmentStatus, RoomEvent, RoomEventKind
from tests import factories
from tests.assessments.conftest import ANKLE_AND_VALGUS, completed_assessment, make_plan

pytestmark = pytest.mark.django_db
LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(day: dt.date, hour: int, minute: int = 0, zone=LONDON) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


# --- Today and this week ----------------------------------------------------------------------


def test_today_and_this_week_on_the_clinicians_clock(
    as_clinician, service, clinician, client_record, time_machine
) -> None:
    # Monday 23 November 2026, 08:00 in London.
    now = at(dt.date(2026, 11, 23), 8)
    time_machine.move_to(now, tick=False)
    ben = factories.make_client(full_name="Ben Today")
    cara = factories.make_client(full_name="Cara Later")
    dan = factories.make_client(full_name="Dan Missed")
    eve = factories.make_client(full_name="Eve Cancelled")
    factories.make_appointment(
        service=service, clinician=clinician, client=ben, starts_at=at(now.date(), 10)
    )
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=cara,
        starts_at=at(now.date() + dt.timedelta(days=3), 11),
    )
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=dan,
        starts_at=at(now.date() - dt.timedelta(days=2), 9),
        status=AppointmentStatus.NO_SHOW,
    )
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=eve,
        starts_at=at(now.date(), 14),
        status=AppointmentStatus.CANCELLED,
    )
    # Eight days ahead: not this week.
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=at(now.date() + dt.timedelta(days=8), 9),
    )
    html = as_clinician.get(reverse("dashboard:clinician_home")).content.decode()
    today = html.split('id="today-heading"')[1].split('id="week-heading"')[0]
    week = html.split('id="week-heading"')[1].split('id="missed-heading"')[0]
    missed = html.split('id="missed-heading"')[1]
    assert "Today, Monday 23 November" in html
    assert "Ben Today" in today
    assert "10:00–10:45" in today
    assert "Eve Cancelled" not in today
    assert "Cara Later" in week
    assert "Thu 26 Nov, 11:00" in week
    assert "Ana Silva" not in html
    assert "Dan Missed" in missed
    assert "No-show" in missed
    assert "Eve Cancelled" in missed
    assert "Cancelled" in missed


def test_the_day_follows_the_viewers_zone_across_a_dst_change(
    as_other_clinician, service, other_clinician, time_machine
) -> None:
    # Sam works in New York. At 23:30 on Saturday 31 October (EDT) "today" is the 31st there,
    # and Sunday 1 November (the clocks go back) is in the coming week.
    new_york = zoneinfo.ZoneInfo("America/New_York")
    time_machine.move_to(at(dt.date(2026, 10, 31), 23, 30, new_york), tick=False)
    client = factories.make_client(full_name="Nora Sunday")
    factories.make_appointment(
        service=service,
        clinician=other_clinician,
        client=client,
        starts_at=at(dt.date(2026, 11, 1), 9, zone=new_york),
    )
    html = as_other_clinician.get(reverse("dashboard:clinician_home")).content.decode()
    assert "Today, Saturday 31 October" in html
    week = html.split('id="week-heading"')[1]
    assert "Sun 1 Nov, 09:00" in week


# --- Clients ----------------------------------------------------------------------------------


def test_clients_sort_by_next_and_last_appointment(
    as_clinician, service, clinician, time_machine
) -> None:
    now = timezone.now()
    soon, later = (
        factories.make_client(full_name="Zed Soon"),
        factories.make_client(full_name="Amy Later"),
    )
    recent, long_ago = (
        factories.make_client(full_name="Yan Recent"),
        factories.make_client(full_name="Bea Long Ago"),
    )
    for client, offset in ((soon, 1), (later, 5), (recent, -1), (long_ago, -30)):
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=client,
            starts_at=now + dt.timedelta(days=offset),
        )
    url = reverse("dashboard:clients")

    def names(sort: str) -> list[str]:
        html = as_clinician.get(url, {"sort": sort}).content.decode()
        body = html.split('id="client-list"')[1]
        return re.findall(r'/clinic/clients/[0-9a-f-]+/">([^<]+)</a>', body)

    assert names("name") == ["Amy Later", "Bea Long Ago", "Yan Recent", "Zed Soon"]
    assert names("next")[:2] == ["Zed Soon", "Amy Later"]
    assert names("last")[:2] == ["Yan Recent", "Bea Long Ago"]
    assert names("nonsense") == names("name")
    assert (
        as_clinician.get(url, {"q": "later", "sort": "next"})
        .content.decode()
        .count("/clinic/clients/")
        >= 1
    )


def test_the_client_list_is_paginated_with_its_sort(as_clinician, service, clinician) -> None:
    start = timezone.now() + dt.timedelta(days=1)
    for number in range(27):
        factories.make_appointment(
            service=service,
            clinician=clinician,
            client=factories.make_client(full_name=f"Client {number:02d}"),
            starts_at=start + dt.timedelta(hours=number),
        )
    html = as_clinician.get(reverse("dashboard:clients"), {"sort": "next"}).content.decode()
    assert "Page 1 of 2" in html
    assert "?sort=next&amp;page=2" in html
    second = as_clinician.get(reverse("dashboard:clients"), {"sort": "next", "page": 2})
    assert "Client 25" in second.content.decode()


def test_clients_are_found_by_email(as_clinician, service, clinician, appointment) -> None:
    factories.make_appointment(
        service=service,
        clinician=clinician,
        client=factories.make_client(full_name="Bo Other", email="bo@elsewhere.example"),
        starts_at=timezone.now() + dt.timedelta(days=2),
    )

    def found(query: str) -> list[str]:
        html = as_clinician.get(reverse("dashboard:clients"), {"q": query}).content.decode()
        if 'id="client-list"' not in html:
            return []
        return re.findall(r'/clinic/clients/[0-9a-f-]+/">([^<]+)</a>', html)

    assert found("ANA@example.org") == ["Ana Silva"]
    assert found("elsewhere.example") == ["Bo Other"]
    assert found("example") == ["Ana Silva", "Bo Other"]
    assert found("nobody@example.org") == []


# --- The client page ----------------------------------------------------------------------------


@pytest.fixture
def with_history(appointment, clinician, client_record, library):
    """Ana: two completed assessments a month apart, the second's plan approved and practised,
    a sent and a failed reminder, and a session with room events."""
    first = make_plan(
        client=client_record,
        clinician=clinician,
        values={
            "faber.left.1.faber_height_cm": 18,
            "faber.right.1.faber_height_cm": 12,
            "knee_to_wall.left.1.ktw_cm": 12,
            "knee_to_wall.right.1.ktw_cm": 8,
        },
        now=timezone.now() - dt.timedelta(days=35),
    )
    second = make_plan(
        client=client_record,
        clinician=clinician,
        values={
            "faber.left.1.faber_height_cm": 15,
            "faber.right.1.faber_height_cm": 13,
            **ANKLE_AND_VALGUS,
        },
        now=timezone.now() - dt.timedelta(days=5),
    )
    plan = plan_approve(
        plan=second,
        actor=clinician.user,
        context=SYSTEM,
        now=timezone.now() - dt.timedelta(days=4),
    )
    item = plan.phases.get(number=1).items.first()
    PracticeLog.objects.create(
        plan=plan, item=item, day=plan.starts_on, done_at=timezone.now(), source="page"
    )
    first_reminder = Reminder.objects.filter(plan=plan).order_by("due_at").first()
    Reminder.objects.filter(pk=first_reminder.pk).update(
        status=ReminderStatus.SENT, sent_at=timezone.now()
    )
    Reminder.objects.create(
        client=client_record,
        plan=plan,
        kind=ReminderKind.WEEKLY_CHECK_IN,
        due_at=timezone.now() - dt.timedelta(hours=2),
        next_attempt_at=timezone.now(),
        status=ReminderStatus.FAILED,
        attempts=5,
        last_error="SMTPException: RCPT TO: 451 Mailbox busy",
        created_at=timezone.now(),
    )
    RoomEvent.objects.create(
        appointment=appointment,
        kind=RoomEventKind.JOINED,
        role="client",
        user=client_record.user,
        at=timezone.now(),
    )
    return first, plan


def test_the_client_page_shows_the_whole_story(
    as_clinician, client_record, appointment, with_history
) -> None:
    html = as_clinician.get(
        reverse("dashboard:client_record", args=[client_record.uuid])
    ).content.decode()
    # Assessments over time and the latest findings.
    assessments = html.split('id="assessments-heading"')[1].split('id="findings-heading"')[0]
    assert assessments.count('href="/assessments/') == 2
    findings = html.split('id="findings-heading"')[1].split('id="plan-heading"')[0]
    assert "Right ankle dorsiflexion restricted" in findings
    assert "Figure-4 (FABER): left hip stiffer" not in findings  # that was the first one
    # The current plan, its phase and adherence per week.
    program = html.split('id="plan-heading"')[1].split('id="progress-heading"')[0]
    assert "now in phase 1: <strong>Restore</strong>" in program
    assert "Adherence per week" in program
    # Reminders sent and failed, with the reason.
    reminders = html.split('id="reminders-heading"')[1]
    assert "Sent" in reminders
    assert "451 Mailbox busy" in reminders
    # Room events of the appointment: counted in its row, listed when the row is opened.
    appointments = html.split('id="appointments-heading"')[1].split('id="reminders-heading"')[0]
    assert "1 event</summary>" in appointments
    events = as_clinician.get(
        reverse("dashboard:room_events", args=[client_record.uuid, appointment.uuid])
    ).content.decode()
    assert "Client: joined" in events


def program_section(http, client) -> str:
    html = http.get(reverse("dashboard:client_record", args=[client.uuid])).content.decode()
    return html.split('id="plan-heading"')[1].split('id="progress-heading"')[0]


def test_the_client_page_shows_the_program_followed_not_a_late_superseded_plan(
    as_clinician, client_record, clinician, appointment, library, time_machine
) -> None:
    # Ana's first assessment's plan was never proposed then (the queue was down); her second
    # assessment's plan was approved and she follows it.
    time_machine.move_to(dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC), tick=False)
    first = completed_assessment(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    time_machine.move_to(dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC), tick=False)
    program = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=dt.datetime(2026, 6, 15, 11, tzinfo=dt.UTC),
    )
    # The first one's plan is proposed at last: older than the program, superseded at once.
    time_machine.move_to(dt.datetime(2026, 6, 20, 10, tzinfo=dt.UTC), tick=False)
    late = plan_generate(assessment_id=first.pk, now=timezone.now())
    assert late.status == PlanStatus.SUPERSEDED

    section = program_section(as_clinician, client_record)

    assert f'href="{reverse("assessments:plan", args=[program.uuid])}"' in section
    assert "Program from Maya Okafor" in section
    assert "started 16 Jun 2026" in section
    assert reverse("assessments:plan", args=[late.uuid]) not in section
    assert "waiting for approval" not in section


def test_a_newer_plan_waiting_for_approval_is_shown_beside_the_program_followed(
    as_clinician, client_record, clinician, appointment, library, time_machine
) -> None:
    time_machine.move_to(dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC), tick=False)
    program = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=dt.datetime(2026, 6, 1, 11, tzinfo=dt.UTC),
    )
    # Reassessed on day 16 of the program, in its third week.
    time_machine.move_to(dt.datetime(2026, 6, 17, 10, tzinfo=dt.UTC), tick=False)
    draft = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)

    section = program_section(as_clinician, client_record)

    # Ana still follows the approved program until Maya approves the new plan.
    follows, waiting = section.split("waiting for approval")
    assert f'href="{reverse("assessments:plan", args=[program.uuid])}"' in follows
    assert "now in phase 2: <strong>Activate</strong>" in follows
    assert f'href="{reverse("assessments:plan", args=[draft.uuid])}"' in section
    assert "proposed 17 Jun 2026" in waiting


def test_the_client_page_shows_the_intake_answers_and_the_red_flag(
    as_clinician, client_record, appointment
) -> None:
    intake_submit(
        client=client_record,
        answers={
            "knee_pain_side": KneePainSide.LEFT,
            "pain_duration": PainDuration.WEEKS_6_TO_12,
            "pain_now": 6,
            "aggravating_activities": ["stairs", "squatting"],
            "previous_injuries": "ACL repair in 2019",
            "knee_giving_way": True,
            "night_pain": True,
        },
        actor=client_record.user,
        context=SYSTEM,
    )
    url = reverse("dashboard:client_record", args=[client_record.uuid])
    html = as_clinician.get(url).content.decode()
    alert = html.split('id="red-flag-heading"')[1].split("</section>")[0]
    assert "suggests in-person care" in alert
    intake = html.split('id="intake-heading"')[1].split("</section>")[0]
    assert "<dd>Left knee</dd>" in intake
    assert "<dd>6 weeks to 3 months</dd>" in intake
    assert "<dd>6 / 10</dd>" in intake
    assert "Stairs, Squatting" in intake
    assert "ACL repair in 2019" in intake
    assert (
        '<strong class="alert-text">Knee gives way, Pain that wakes you at night</strong>' in intake
    )
    # Once reviewed with the client the alert goes; the answers stay.
    as_clinician.post(reverse("dashboard:red_flag_clear", args=[client_record.uuid]))
    html = as_clinician.get(url).content.decode()
    assert 'id="red-flag-heading"' not in html
    assert "Knee gives way, Pain that wakes you at night" in html


def test_every_sessions_room_events_can_be_opened_from_the_client_page(
    as_clinician, service, clinician, client_record
) -> None:
    # A year of monthly sessions, each with its room events: the oldest opens like the newest.
    start = timezone.now() - dt.timedelta(days=400)
    sessions = []
    for number in range(12):
        session = factories.make_appointment(
            service=service,
            clinician=clinician,
            client=client_record,
            starts_at=start + dt.timedelta(days=30 * number),
            status=AppointmentStatus.COMPLETED,
        )
        for kind in (RoomEventKind.JOINED, RoomEventKind.LEFT)[: 1 + number % 2]:
            RoomEvent.objects.create(
                appointment=session, kind=kind, role="client", at=session.starts_at
            )
        sessions.append(session)
    html = as_clinician.get(
        reverse("dashboard:client_record", args=[client_record.uuid])
    ).content.decode()
    table = html.split('id="appointments-heading"')[1].split('id="reminders-heading"')[0]
    assert "in the admin" not in table
    for session in sessions:
        url = reverse("dashboard:room_events", args=[client_record.uuid, session.uuid])
        assert f'href="{url}"' in table
    assert table.count("1 event</summary>") == 6
    assert table.count("2 events</summary>") == 6
    oldest = as_clinician.get(
        reverse("dashboard:room_events", args=[client_record.uuid, sessions[0].uuid])
    ).content.decode()
    assert "Client: joined" in oldest


def test_charts_for_several_assessments(as_clinician, client_record, with_history) -> None:
    html = as_clinician.get(
        reverse("dashboard:client_record", args=[client_record.uuid])
    ).content.decode()
    progress = html.split('id="progress-heading"')[1].split('id="appointments-heading"')[0]
    figures = re.findall(r'<figure class="chart" id="chart-([a-z_-]+)"', progress)
    assert figures == ["faber-faber_height_cm", "knee_to_wall-ktw_cm"]
    faber = progress.split('id="chart-faber-faber_height_cm"')[1].split("</figure>")[0]
    assert "<svg" in faber
    assert 'aria-hidden="true"' in faber
    assert "<script" not in faber
    # The data table for screen readers: one row per assessment, with the difference.
    rows = re.findall(
        r"<tr><th scope=\"row\">([^<]+)</th><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", faber
    )
    assert [(left, right, difference) for _, left, right, difference in rows] == [
        ("18 cm", "12 cm", "6 cm"),
        ("15 cm", "13 cm", "2 cm"),
    ]
    assert "a difference of 4 cm" in faber
    # The legend says in words how each line looks: they differ without colour.
    for words in (
        "<strong>Left</strong>: solid line, filled dots",
        "<strong>Right</strong>: dashed line, open circles",
        "<strong>Difference</strong>: dotted line, small dots",
        "<strong>Threshold</strong>: black long dashes",
    ):
        assert words in faber
    # The threshold is drawn: a line at 4 for both assessments, dashed.
    assert "stroke-dasharray:12,6" in faber


def test_a_chart_counts_one_point_in_the_singular(
    as_clinician, client_record, clinician, appointment, library
) -> None:
    make_plan(
        client=client_record,
        clinician=clinician,
        values={"aslr.left.1.aslr_score": 2, "aslr.right.1.aslr_score": 1},
    )
    html = as_clinician.get(
        reverse("dashboard:client_record", args=[client_record.uuid])
    ).content.decode()
    aslr = html.split('id="chart-aslr-aslr_score"')[1].split("</figure>")[0]
    assert "<td>2 points</td><td>1 point</td><td>1 point</td>" in aslr
    assert "a difference of 2 points" in aslr


def test_charts_for_one_assessment_and_none(
    as_clinician, client_record, clinician, appointment, library
) -> None:
    url = reverse("dashboard:client_record", args=[client_record.uuid])
    html = as_clinician.get(url).content.decode()
    assert "Charts appear once an assessment with measurements is completed." in html
    assert "<svg" not in html
    make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    html = as_clinician.get(url).content.decode()
    progress = html.split('id="progress-heading"')[1].split('id="appointments-heading"')[0]
    assert re.findall(r'<figure class="chart" id="chart-([a-z_-]+)"', progress) == [
        "knee_to_wall-ktw_cm"
    ]
    assert progress.count('<th scope="row">') == 1
    assert "Threshold (a dashed ring): the asymmetry threshold" in progress


def chart_rows(html: str, key: str) -> list[tuple[str, ...]]:
    chart = html.split(f'id="chart-{key}"')[1].split("</figure>")[0]
    return re.findall(
        r"<tr><th scope=\"row\">([^<]+)</th><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", chart
    )


def test_charts_of_a_long_history_say_they_show_the_latest_twelve(
    as_clinician, client_record, clinician, appointment, library
) -> None:
    # Fourteen monthly assessments: left 10, 11, ... 23 cm, right 8 cm.
    start = timezone.now() - dt.timedelta(days=14 * 30)
    for number in range(14):
        completed_assessment(
            client=client_record,
            clinician=clinician,
            values={"knee_to_wall.left.1.ktw_cm": 10 + number, "knee_to_wall.right.1.ktw_cm": 8},
            now=start + dt.timedelta(days=30 * number),
        )
    url = reverse("dashboard:client_record", args=[client_record.uuid])
    html = as_clinician.get(url).content.decode()
    progress = html.split('id="progress-heading"')[1].split('id="appointments-heading"')[0]
    assert "The charts show the latest 12 of 14 assessments." in progress
    assert 'href="?all=1#progress">Show all 14 assessments</a>' in progress
    chart = progress.split('id="chart-knee_to_wall-ktw_cm"')[1].split("</figure>")[0]
    assert "Knee-to-wall distance: latest 12 of 14 assessments</caption>" in chart
    rows = chart_rows(progress, "knee_to_wall-ktw_cm")
    assert [left for _, left, _, _ in rows] == [f"{cm} cm" for cm in range(12, 24)]

    everything = as_clinician.get(url, {"all": "1"}).content.decode()
    progress = everything.split('id="progress-heading"')[1].split('id="appointments-heading"')[0]
    assert "The charts show all 14 assessments." in progress
    assert f'href="{url}#progress">Show the latest 12</a>' in progress
    assert "Knee-to-wall distance: all 14 assessments</caption>" in progress
    rows = chart_rows(progress, "knee_to_wall-ktw_cm")
    assert [left for _, left, _, _ in rows] == [f"{cm} cm" for cm in range(10, 24)]


def test_twelve_assessments_or_fewer_need_no_notice(
    as_clinician, client_record, clinician, appointment, library
) -> None:
    completed_assessment(
        client=client_record,
        clinician=clinician,
        values={"knee_to_wall.left.1.ktw_cm": 10, "knee_to_wall.right.1.ktw_cm": 8},
        now=timezone.now() - dt.timedelta(days=3),
    )
    html = as_clinician.get(
        reverse("dashboard:client_record", args=[client_record.uuid])
    ).content.decode()
    assert "The charts show" not in html
    assert "?all=1" not in html
    assert "Knee-to-wall distance</caption>" in html


# --- The queue of plans -----------------------------------------------------------------------


def test_the_queue_holds_ones_own_drafts(
    as_clinician,
    as_other_clinician,
    as_admin,
    as_client,
    as_stranger,
    client_record,
    clinician,
    appointment,
    library,
) -> None:
    plan = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    url = reverse("dashboard:plans_waiting")
    mine = as_clinician.get(url).content.decode()
    assert f'data-plan="{plan.uuid}"' in mine
    assert reverse("assessments:plan", args=[plan.uuid]) in mine
    assert "Ana Silva" in mine
    assert "Ana Silva" not in as_other_clinician.get(url).content.decode()
    assert "Ana Silva" in as_admin.get(url).content.decode()
    assert as_client.get(url).status_code == 403
    assert as_stranger.get(url).status_code == 302
    home = as_clinician.get(reverse("dashboard:clinician_home")).content.decode()
    assert "1 plan waiting for your approval" in home
    plan_approve(plan=plan, actor=clinician.user, context=SYSTEM, now=timezone.now())
    assert f'data-plan="{plan.uuid}"' not in as_clinician.get(url).content.decode()


def test_the_queue_has_pages(as_clinician, clinician, library) -> None:
    start = timezone.now() - dt.timedelta(days=30)
    for number in range(26):
        make_plan(
            client=factories.make_client(full_name=f"Queued {number:02d}"),
            clinician=clinician,
            values=ANKLE_AND_VALGUS,
            now=start + dt.timedelta(hours=number),
        )
    url = reverse("dashboard:plans_waiting")
    first = as_clinician.get(url).content.decode()
    assert first.count("<tr data-plan=") == 25
    assert "Queued 00" in first
    assert "Queued 25" not in first
    assert "Page 1 of 2" in first
    assert "?page=2" in first
    second = as_clinician.get(url, {"page": 2}).content.decode()
    assert second.count("<tr data-plan=") == 1
    assert "Queued 25" in second
    assert "Page 2 of 2" in second
    home = as_clinician.get(reverse("dashboard:clinician_home")).content.decode()
    assert "26 plans waiting for your approval" in home


# --- Query counts -----------------------------------------------------------------------------


def queries(http, url: str, **params) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url, params)
    assert response.status_code == 200
    return [query["sql"] for query in captured]


def add_clients(service, clinician, count: int, *, offset: int) -> None:
    start = timezone.now() - dt.timedelta(days=3)
    for number in range(count):
        client = factories.make_client()
        for k in range(2):
            factories.make_appointment(
                service=service,
                clinician=clinician,
                client=client,
                starts_at=start + dt.timedelta(hours=offset + number * 2 + k * 100),
            )


def test_dashboard_pages_run_the_same_queries_however_much_data(
    as_clinician, service, clinician, client_record, appointment, with_history
) -> None:
    pages = [
        (reverse("dashboard:clinician_home"), {}),
        (reverse("dashboard:clients"), {"sort": "next"}),
        (reverse("dashboard:plans_waiting"), {}),
        (reverse("dashboard:client_record", args=[client_record.uuid]), {}),
    ]
    before = [queries(as_clinician, url, **params) for url, params in pages]
    add_clients(service, clinician, 12, offset=0)
    # More of everything on Ana's page: another (older) assessment with its plan, more
    # practice, reminders and room events.
    _, plan = with_history
    make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        now=timezone.now() - dt.timedelta(days=20),
    )
    for item in plan.phases.get(number=1).items.all()[1:]:
        PracticeLog.objects.create(
            plan=plan, item=item, day=plan.starts_on, done_at=timezone.now(), source="page"
        )
    for kind in (RoomEventKind.ADMITTED, RoomEventKind.CONNECTED, RoomEventKind.LEFT):
        RoomEvent.objects.create(appointment=appointment, kind=kind, at=timezone.now())
    # And fifteen past sessions of hers, each with its room events.
    for number in range(15):
        past = factories.make_appointment(
            service=service,
            clinician=clinician,
            client=client_record,
            starts_at=timezone.now() - dt.timedelta(days=20 + 7 * number),
            status=AppointmentStatus.COMPLETED,
        )
        for kind in (RoomEventKind.JOINED, RoomEventKind.ADMITTED, RoomEventKind.LEFT):
            RoomEvent.objects.create(appointment=past, kind=kind, at=past.starts_at)
    after = [queries(as_clinician, url, **params) for url, params in pages]
    for url_params, old, new in zip(pages, before, after, strict=True):
        assert len(old) == len(new), (url_params[0], [q[:90] for q in new if q not in old])
    # The client page counts each session's room events but reads none of them: a row's
    # events are loaded when it is opened.
    reading_events = f'FROM "{RoomEvent._meta.db_table}"'
    assert not [q for q in after[3] if reading_events in q]


def test_the_client_page_reads_appointments_once_and_values_as_plain_rows(
    as_clinician, client_record, appointment, with_history
) -> None:
    sql = queries(as_clinician, reverse("dashboard:client_record", args=[client_record.uuid]))

    def reading(model) -> list[str]:
        return [q for q in sql if q.startswith(f'SELECT "{model._meta.db_table}".')]

    assert len(reading(Appointment)) == 1
    # The charts' values without their assessments (the page has those already).
    [values] = reading(ResultValue)
    assert f'"{Assessment._meta.db_table}"."clinician_id"' not in values.split(" FROM ")[0]


def test_a_sessions_room_events_run_the_same_queries_however_many(
    as_clinician, client_record, appointment
) -> None:
    url = reverse("dashboard:room_events", args=[client_record.uuid, appointment.uuid])
    RoomEvent.objects.create(appointment=appointment, kind=RoomEventKind.JOINED, at=timezone.now())
    before = queries(as_clinician, url)
    for kind in (RoomEventKind.ADMITTED, RoomEventKind.CONNECTED, RoomEventKind.LEFT) * 5:
        RoomEvent.objects.create(appointment=appointment, kind=kind, at=timezone.now())
    assert len(queries(as_clinician, url)) == len(before)


# --- The client's own page ----------------------------------------------------------------------


def test_a_session_that_ended_early_is_no_longer_upcoming(
    as_client, service, clinician, other_clinician, client_record, time_machine
) -> None:
    now = dt.datetime(2026, 6, 8, 9, 30, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)

    def session(hour: int, status: AppointmentStatus, with_clinician=clinician) -> None:
        factories.make_appointment(
            service=service,
            clinician=with_clinician,
            client=client_record,
            starts_at=dt.datetime(2026, 6, 8, hour, tzinfo=dt.UTC),
            status=status,
        )

    # 45-minute sessions: the two at 09:00 would end after 09:30 as planned.
    session(9, AppointmentStatus.COMPLETED)  # ended early, for both
    session(9, AppointmentStatus.IN_PROGRESS, other_clinician)  # still going on
    session(10, AppointmentStatus.CONFIRMED)
    session(11, AppointmentStatus.CANCELLED)

    html = as_client.get(reverse("dashboard:my_care")).content.decode()

    upcoming = html.split('id="upcoming-heading"')[1].split('id="program-heading"')[0]
    past = html.split('id="past-heading"')[1]
    # Times on Ana's clock (London, summer time).
    assert re.findall(r"Monday 8 June 2026, (\d\d:\d\d)", upcoming) == ["10:00", "11:00"]
    assert "with Sam Rivera" in upcoming
    assert "8 Jun 2026, 10:00: Virtual assessment with Maya Okafor (completed)" in past
    assert "8 Jun 2026, 12:00: Virtual assessment with Maya Okafor (cancelled)" in past


def test_the_clients_page_offers_the_device_check_at_any_time(as_client, client_record) -> None:
    # No appointment at all: the check is there all the same.
    html = as_client.get(reverse("dashboard:my_care")).content.decode()

    check = reverse("sessions:device_check")
    assert f'<a href="{check}">Check your camera, microphone and speakers</a>' in html
    page = as_client.get(check).content.decode()
    assert f'<a href="{reverse("dashboard:my_care")}">Back to My care</a>' in page
