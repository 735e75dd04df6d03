"""Reminder times: rows due in UTC at the client's chosen local time in their IANA zone, across
daylight saving changes; replaced when the plan, the time or an appointment changes."""

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments.models import PlanStatus, Reminder, ReminderKind, ReminderStatus
from assessments.programs.approval import plan_approve
from assessments.programs.reminders import (
    appointment_reminders_sync,
    reminder_time_set,
    reminders_restart,
    reminders_stop,
)
from assessments.programs.services import plan_item_dose
from clinic.audit import SYSTEM
from sessions.booking.services import appointment_cancel, appointment_reschedule
from tests import factories
from tests.assessments.conftest import ANKLE_AND_VALGUS, make_plan

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def practice_times(plan) -> dict[dt.date, dt.datetime]:
    return {
        r.day: r.due_at
        for r in Reminder.objects.filter(
            plan=plan, kind=ReminderKind.PRACTICE, status=ReminderStatus.PENDING
        )
    }


@pytest.mark.parametrize(
    ("zone", "approve_at", "before", "after"),
    [
        # New York springs forward on 2026-03-08: 08:00 EST is 13:00 UTC, 08:00 EDT 12:00.
        (
            "America/New_York",
            utc(2026, 3, 4, 15),
            (dt.date(2026, 3, 7), utc(2026, 3, 7, 13)),
            (dt.date(2026, 3, 8), utc(2026, 3, 8, 12)),
        ),
        # ... and falls back on 2026-11-01.
        (
            "America/New_York",
            utc(2026, 10, 28, 15),
            (dt.date(2026, 10, 31), utc(2026, 10, 31, 12)),
            (dt.date(2026, 11, 1), utc(2026, 11, 1, 13)),
        ),
        # London springs forward on 2026-03-29: 08:00 GMT is 08:00 UTC, 08:00 BST 07:00.
        (
            "Europe/London",
            utc(2026, 3, 25, 12),
            (dt.date(2026, 3, 28), utc(2026, 3, 28, 8)),
            (dt.date(2026, 3, 29), utc(2026, 3, 29, 7)),
        ),
        # No daylight saving in Kolkata: always 02:30 UTC.
        (
            "Asia/Kolkata",
            utc(2026, 3, 4, 6),
            (dt.date(2026, 3, 7), utc(2026, 3, 7, 2, 30)),
            (dt.date(2026, 3, 8), utc(2026, 3, 8, 2, 30)),
        ),
    ],
)
def test_practice_reminders_stay_at_eight_on_the_clients_clock_across_dst(
    clinician, zone, approve_at, before, after
) -> None:
    client = factories.make_client(time_zone=zone)
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=approve_at
    )
    times = practice_times(plan)
    assert times[before[0]] == before[1]
    assert times[after[0]] == after[1]


def test_the_schedule_of_a_program(clinician) -> None:
    client = factories.make_client(time_zone="Europe/London")
    # Approved on Wednesday 10 June 2026: the program starts on Thursday 11 June.
    plan = make_plan(
        client=client,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=utc(2026, 6, 10, 12),
    )
    assert plan.status == PlanStatus.APPROVED
    assert plan.starts_on == dt.date(2026, 6, 11)
    rows = list(Reminder.objects.filter(plan=plan).order_by("due_at"))
    by_kind: dict[str, list] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    days = {kind: [r.day for r in reminders] for kind, reminders in by_kind.items()}
    # Restore and activate (weeks 1–4) daily, strengthen (weeks 5–8) three days a week; the
    # first day of a new phase gets the phase notice instead of the practice reminder.
    activate_starts = dt.date(2026, 6, 25)
    strengthen_starts = dt.date(2026, 7, 9)
    assert days[ReminderKind.PHASE_START] == [activate_starts, strengthen_starts]
    assert [r.phase_number for r in by_kind[ReminderKind.PHASE_START]] == [2, 3]
    practice = days[ReminderKind.PRACTICE]
    assert practice[0] == dt.date(2026, 6, 11)
    assert activate_starts not in practice
    assert len([d for d in practice if d < strengthen_starts]) == 28 - 1
    strengthen_days = [d for d in practice if d >= strengthen_starts]
    assert strengthen_days[:5] == [
        dt.date(2026, 7, 11),
        dt.date(2026, 7, 13),
        dt.date(2026, 7, 16),
        dt.date(2026, 7, 18),
        dt.date(2026, 7, 20),
    ]
    assert len(strengthen_days) == 4 * 3 - 1
    # A check-in at the end of each of the 8 weeks, then the re-assessment prompt in week 9.
    assert days[ReminderKind.WEEKLY_CHECK_IN][0] == dt.date(2026, 6, 17)
    assert len(days[ReminderKind.WEEKLY_CHECK_IN]) == 8
    assert days[ReminderKind.REASSESSMENT] == [dt.date(2026, 8, 6)]
    # Every due time is 08:00 in London (BST: 07:00 UTC) and aware.
    assert {r.due_at.time() for r in rows} == {dt.time(7, 0)}
    assert all(r.due_at.tzinfo is not None for r in rows)


def test_changing_the_time_replaces_what_is_still_to_come(clinician) -> None:
    client = factories.make_client(time_zone="America/New_York")
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 3, 4, 15)
    )
    first = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).order_by("due_at")[0]
    Reminder.objects.filter(pk=first.pk).update(
        status=ReminderStatus.SENT, sent_at=utc(2026, 3, 5, 13)
    )
    reminder_time_set(client=client, local_time=dt.time(18, 30), now=utc(2026, 3, 5, 14))
    times = practice_times(plan)
    # 18:30 in New York: 23:30 UTC before the change, 22:30 after.
    assert times[dt.date(2026, 3, 7)] == utc(2026, 3, 7, 23, 30)
    assert times[dt.date(2026, 3, 8)] == utc(2026, 3, 8, 22, 30)
    # The one already sent stays; the same day is not planned again.
    sent = Reminder.objects.get(pk=first.pk)
    assert sent.status == ReminderStatus.SENT
    assert dt.date(2026, 3, 5) not in times
    # The old rows are cancelled, not deleted.
    assert Reminder.objects.filter(plan=plan, status=ReminderStatus.CANCELLED).exists()


def test_a_time_skipped_by_spring_forward_comes_when_the_clock_shows_it(clinician) -> None:
    client = factories.make_client(time_zone="America/New_York")
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 3, 4, 15)
    )
    reminder_time_set(client=client, local_time=dt.time(2, 30), now=utc(2026, 3, 4, 16))
    times = practice_times(plan)
    # 02:30 does not exist on 2026-03-08 in New York: the reminder comes at 03:30 EDT.
    assert times[dt.date(2026, 3, 8)] == utc(2026, 3, 8, 7, 30)
    assert times[dt.date(2026, 3, 9)] == utc(2026, 3, 9, 6, 30)


def test_stopping_and_restarting_reminders(clinician) -> None:
    client = factories.make_client(time_zone="Europe/London")
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 6, 10, 12)
    )
    pending = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING)
    count = pending.count()
    assert reminders_stop(client=client, now=utc(2026, 6, 10, 13))
    assert not pending.exists()
    assert not reminders_stop(client=client, now=utc(2026, 6, 10, 14))  # idempotent
    reminders_restart(client=client, now=utc(2026, 6, 10, 15))
    assert pending.count() == count


def test_a_plan_change_replaces_the_reminders(clinician) -> None:
    client = factories.make_client(time_zone="Europe/London")
    plan = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 6, 10, 12)
    )
    old = set(Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).values_list("pk"))
    item = plan.phases.first().items.first()
    plan_item_dose(item=item, sets=2, amount=45, actor=clinician.user, context=SYSTEM)
    plan.refresh_from_db()
    assert plan.revision == 2
    plan_approve(plan=plan, actor=clinician.user, context=SYSTEM, now=utc(2026, 6, 12, 9))
    new = set(Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).values_list("pk"))
    assert old.isdisjoint(new)
    # Reminders from before the change that were due already are not planned again.
    assert min(
        Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).values_list(
            "due_at", flat=True
        )
    ) > utc(2026, 6, 12, 9)
    plan.refresh_from_db()
    assert plan.starts_on == dt.date(2026, 6, 11)  # the start does not move


def test_a_new_program_stops_the_old_ones_reminders(clinician) -> None:
    client = factories.make_client(time_zone="Europe/London")
    old = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 6, 10, 12)
    )
    new = make_plan(
        client=client, clinician=clinician, values=ANKLE_AND_VALGUS, approve_at=utc(2026, 7, 1, 12)
    )
    assert not Reminder.objects.filter(plan=old, status=ReminderStatus.PENDING).exists()
    assert Reminder.objects.filter(plan=new, status=ReminderStatus.PENDING).exists()
    # Nor do they come back when the client changes their reminder time or stops and
    # restarts them: only the program they follow has reminders.
    reminder_time_set(client=client, local_time=dt.time(18, 30), now=utc(2026, 7, 2, 9))
    reminders_stop(client=client, now=utc(2026, 7, 2, 10))
    reminders_restart(client=client, now=utc(2026, 7, 2, 11))
    assert not Reminder.objects.filter(plan=old, status=ReminderStatus.PENDING).exists()
    assert Reminder.objects.filter(plan=new, status=ReminderStatus.PENDING).exists()


# --- Appointment reminders --------------------------------------------------------------------


def appointment_reminders(appointment) -> list[tuple[str, dt.datetime, str]]:
    return list(
        Reminder.objects.filter(appointment=appointment)
        .order_by("due_at")
        .values_list("kind", "due_at", "status")
    )


def test_appointments_get_a_reminder_a_day_and_an_hour_before(appointment, time_machine) -> None:
    starts = appointment.starts_at
    time_machine.move_to(starts - dt.timedelta(hours=24, minutes=30))
    appointment_reminders_sync(now=timezone.now())
    assert appointment_reminders(appointment) == [
        ("appointment_24h", starts - dt.timedelta(hours=24), "pending"),
        ("appointment_1h", starts - dt.timedelta(hours=1), "pending"),
    ]
    # Syncing again adds nothing.
    appointment_reminders_sync(now=timezone.now())
    assert len(appointment_reminders(appointment)) == 2


@pytest.fixture
def bookable(service, clinician, client_record):
    """Ana's appointment with Maya at 10:00 London time in four days, inside working hours."""
    day = (timezone.now() + dt.timedelta(days=4)).date()
    starts = dt.datetime.combine(day, dt.time(10), tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    return factories.make_appointment(
        service=service, clinician=clinician, client=client_record, starts_at=starts
    )


def test_a_rescheduled_appointment_has_its_reminders_replaced(bookable, time_machine) -> None:
    time_machine.move_to(bookable.starts_at - dt.timedelta(hours=24, minutes=30))
    appointment_reminders_sync(now=timezone.now())
    new_start = bookable.starts_at + dt.timedelta(hours=3)
    appointment_reschedule(
        appointment=bookable, starts_at=new_start, actor=None, by_client=False, context=SYSTEM
    )
    appointment_reminders_sync(now=timezone.now())
    assert {status for _, _, status in appointment_reminders(bookable)} == {"cancelled"}
    # The new time's reminders are planned once it is within a day (the sync's horizon).
    time_machine.move_to(new_start - dt.timedelta(hours=24, minutes=30))
    appointment_reminders_sync(now=timezone.now())
    rows = appointment_reminders(bookable)
    assert [(kind, due) for kind, due, status in rows if status == "pending"] == [
        ("appointment_24h", new_start - dt.timedelta(hours=24)),
        ("appointment_1h", new_start - dt.timedelta(hours=1)),
    ]
    assert [status for _, _, status in rows].count("cancelled") == 2


def test_a_cancelled_appointment_has_no_reminders(bookable, time_machine) -> None:
    time_machine.move_to(bookable.starts_at - dt.timedelta(hours=24, minutes=30))
    appointment_reminders_sync(now=timezone.now())
    assert len(appointment_reminders(bookable)) == 2
    appointment_cancel(
        appointment=bookable, actor=None, by_client=False, reason="Unwell", context=SYSTEM
    )
    appointment_reminders_sync(now=timezone.now())
    assert {status for _, _, status in appointment_reminders(bookable)} == {"cancelled"}


def test_a_booking_inside_the_hour_gets_no_reminder_in_the_past(appointment, time_machine) -> None:
    time_machine.move_to(appointment.starts_at - dt.timedelta(minutes=40))
    appointment_reminders_sync(now=timezone.now())
    assert appointment_reminders(appointment) == []


def test_syncing_runs_the_same_queries_however_many_appointments(service, time_machine) -> None:
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    time_machine.move_to(start - dt.timedelta(hours=24, minutes=5))

    def book(count: int) -> None:
        # All within the sync's horizon, each with its own clinician.
        for number in range(count):
            factories.make_appointment(
                service=service,
                clinician=factories.make_clinician(hours=None),
                client=factories.make_client(),
                starts_at=start + dt.timedelta(minutes=number),
            )

    book(2)
    with CaptureQueriesContext(connection) as few:
        appointment_reminders_sync(now=timezone.now())
    assert Reminder.objects.count() == 4
    book(10)
    with CaptureQueriesContext(connection) as many:
        appointment_reminders_sync(now=timezone.now())
    assert Reminder.objects.count() == 24
    assert len(few) == len(many)


# --- A phase left without exercises -------------------------------------------------------------


def test_a_phase_whose_exercises_were_all_removed_gets_no_reminders(
    clinician,
    client_record,
    appointment,
    library,
    as_clinician,
    time_machine,
    inbox,
    django_capture_on_commit_callbacks,
) -> None:
    from django.urls import reverse

    plan = make_plan(client=client_record, clinician=clinician, values=ANKLE_AND_VALGUS)
    activate = plan.phases.get(number=2)
    for item in activate.items.all():
        as_clinician.post(reverse("assessments:item_remove", args=[plan.uuid, item.uuid]))
    page = as_clinician.get(reverse("assessments:plan", args=[plan.uuid])).content.decode()
    assert "No exercise in this phase: Ana Silva gets no reminders in weeks 3–4." in page
    time_machine.move_to(utc(2026, 6, 10, 12), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_clinician.post(
            reverse("assessments:plan_approve", args=[plan.uuid]), follow=True
        )
    assert "Phase 2 (Activate) has no exercises: no reminders in weeks 3–4." in (
        response.content.decode()
    )
    plan.refresh_from_db()
    assert plan.starts_on == dt.date(2026, 6, 11)
    rows = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING)
    weeks_3_and_4 = (dt.date(2026, 6, 25), dt.date(2026, 7, 8))
    assert not rows.filter(day__range=weeks_3_and_4).exists()
    # Phase 3 still starts with its notice, which lists its exercises.
    assert list(
        rows.filter(kind=ReminderKind.PHASE_START).values_list("phase_number", flat=True)
    ) == [3]
    assert rows.filter(kind=ReminderKind.WEEKLY_CHECK_IN).count() == 6
    assert rows.filter(kind=ReminderKind.REASSESSMENT).count() == 1
    # The program email says so rather than list an empty phase.
    [message] = inbox.to("ana@example.org")
    text = message.get_body(("plain",)).get_content()
    activate = text[text.index("PHASE 2: ACTIVATE") : text.index("PHASE 3")]
    assert "No exercises in these weeks." in activate


def test_a_phase_emptied_after_approval_sends_nothing_in_its_weeks(
    clinician, client_record, library, inbox, time_machine
) -> None:
    from assessments.programs.emails import reminder_email
    from assessments.programs.reminders import reminders_dispatch
    from assessments.programs.services import plan_item_remove

    plan = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=utc(2026, 6, 10, 12),
    )
    for item in plan.phases.get(number=2).items.all():
        plan_item_remove(item=item, actor=clinician.user, context=SYSTEM, now=utc(2026, 6, 20, 9))
    # Not sent again yet: the reminders planned at approval are still there, and dropped when
    # they come due rather than announce a phase with nothing in it.
    phase_start = Reminder.objects.get(plan=plan, kind=ReminderKind.PHASE_START, phase_number=2)
    time_machine.move_to(phase_start.due_at + dt.timedelta(seconds=5), tick=False)
    result = reminders_dispatch(now=timezone.now, build=reminder_email)
    phase_start.refresh_from_db()
    assert phase_start.status == ReminderStatus.CANCELLED
    assert result.sent == 0
    # Nor the check-in at the end of an empty week.
    check_in = Reminder.objects.get(
        plan=plan, kind=ReminderKind.WEEKLY_CHECK_IN, day=dt.date(2026, 7, 1)
    )
    time_machine.move_to(check_in.due_at + dt.timedelta(seconds=5), tick=False)
    Reminder.objects.filter(plan=plan, due_at__lt=check_in.due_at).update(
        status=ReminderStatus.CANCELLED
    )
    result = reminders_dispatch(now=timezone.now, build=reminder_email)
    check_in.refresh_from_db()
    assert check_in.status == ReminderStatus.CANCELLED
    assert result.sent == 0
    assert not inbox.messages


# --- The client's own time zone changes -------------------------------------------------------


def save_my_profile(as_client, client, **changes: str):
    """The client's profile form sent back as the page shows it, with ``changes``."""
    from django.urls import reverse

    from clinic.forms import ClientProfileForm

    shown = {
        key: "" if value is None else value
        for key, value in ClientProfileForm.initial_for(client).items()
    }
    return as_client.post(reverse("dashboard:my_profile"), {**shown, **changes}, follow=True)


def test_moving_time_zone_in_my_profile_replans_the_reminders_across_dst(
    clinician, client_record, as_client, time_machine
) -> None:
    # Ana is in London (BST) when the program is approved: 08:00 is 07:00 UTC.
    plan = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=utc(2026, 10, 21, 12),
    )
    assert practice_times(plan)[dt.date(2026, 10, 23)] == utc(2026, 10, 23, 7)
    first = Reminder.objects.get(plan=plan, kind=ReminderKind.PRACTICE, day=dt.date(2026, 10, 22))
    Reminder.objects.filter(pk=first.pk).update(
        status=ReminderStatus.SENT, sent_at=utc(2026, 10, 22, 7)
    )
    # She moves to New York and says so on her profile.
    time_machine.move_to(utc(2026, 10, 22, 9), tick=False)
    response = save_my_profile(as_client, client_record, time_zone="America/New_York")
    assert response.status_code == 200
    assert "Your reminders now come at 08:00 (America/New_York)." in response.content.decode()
    times = practice_times(plan)
    # 08:00 in New York: 12:00 UTC in daylight saving time, 13:00 UTC after it ends on
    # 1 November (London's own change on 25 October no longer matters).
    assert times[dt.date(2026, 10, 24)] == utc(2026, 10, 24, 12)
    assert times[dt.date(2026, 10, 26)] == utc(2026, 10, 26, 12)
    assert times[dt.date(2026, 10, 31)] == utc(2026, 10, 31, 12)
    assert times[dt.date(2026, 11, 2)] == utc(2026, 11, 2, 13)
    zone = zoneinfo.ZoneInfo("America/New_York")
    pending = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING)
    assert {r.due_at.astimezone(zone).time() for r in pending} == {dt.time(8)}
    # Today's reminder went out already: it is not planned again for the afternoon.
    assert dt.date(2026, 10, 22) not in times
    assert Reminder.objects.get(pk=first.pk).status == ReminderStatus.SENT


def test_a_profile_saved_without_a_new_zone_leaves_the_reminders_alone(
    clinician, client_record, as_client, time_machine
) -> None:
    plan = make_plan(
        client=client_record,
        clinician=clinician,
        values=ANKLE_AND_VALGUS,
        approve_at=utc(2026, 6, 10, 12),
    )
    before = set(Reminder.objects.filter(plan=plan, status="pending").values_list("pk", flat=True))
    time_machine.move_to(utc(2026, 6, 10, 13), tick=False)
    response = save_my_profile(as_client, client_record, phone="+44 20 7946 0999")
    assert "Your reminders now come" not in response.content.decode()
    after = set(Reminder.objects.filter(plan=plan, status="pending").values_list("pk", flat=True))
    assert after == before
