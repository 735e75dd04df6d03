"""During a real call in two browsers the clinician records a full guided assessment: each step
shows the client what to do, every value is saved as it is entered, a value out of range is
explained next to its field, a snapshot of the client's video is kept (the client consented to
images), and completing locks the results, stores the findings and proposes a plan."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect
from playwright.sync_api import Error as PlaywrightError

from assessments.models import (
    Assessment,
    AssessmentStatus,
    Exercise,
    Finding,
    Plan,
    ResultValue,
    Snapshot,
)
from assessments.programs.exercise_library import exercises_load
from assessments.protocols import PROTOCOLS
from assessments.services import assessment_start_for_appointment
from clinic.audit import SYSTEM
from clinic.models import ConsentDocument, ConsentKind
from clinic.services import consent_accept
from sessions.models import Appointment, AppointmentStatus
from tests import factories
from tests.assessments.conftest import record
from tests.conftest import session_key_for
from tests.e2e.conftest import LaunchBrowser, Room, make_room
from tests.e2e.panel import PanelSocket, field, message, open_step, type_in
from tests.e2e.test_video_call import ARGS, people, person, start_call

# What the clinician enters, step by step (key: value); selects take their option value.
STEPS: list[tuple[str, dict[str, str]]] = [
    (
        "aslr",
        {
            "aslr.left.1.aslr_score": "0",
            "aslr.right.1.aslr_score": "2",
            "aslr.left.1.slr_angle_deg": "62",
            "aslr.right.1.slr_angle_deg": "55.5",
        },
    ),
    (
        "seated_cross_legged",
        {
            "seated_cross_legged.left.1.sits_higher": "yes",
            "seated_cross_legged.right.1.sits_higher": "no",
        },
    ),
    (
        "faber",
        {
            "faber.left.1.faber_height_cm": "18",
            "faber.right.1.faber_height_cm": "12.5",
            "faber.left.1.pain": "3",
            "faber.left.1.pain_location": "groin",
        },
    ),
    (
        "lunge",
        {
            **{f"lunge.left.{t}.knee_position": "over_mid_foot" for t in (1, 2, 3)},
            "lunge.right.1.knee_position": "over_big_toe",
            "lunge.right.2.knee_position": "medial_to_big_toe",
            "lunge.right.3.knee_position": "over_big_toe",
            **{f"lunge.left.{t}.fppa_deg": v for t, v in ((1, "4"), (2, "5"), (3, "6"))},
            **{f"lunge.right.{t}.fppa_deg": v for t, v in ((1, "14"), (2, "16.5"), (3, "15"))},
        },
    ),
    (
        "knee_to_wall",
        {
            "knee_to_wall.left.1.ktw_cm": "12",
            "knee_to_wall.right.1.ktw_cm": "8.5",
            # A second trial: the findings and the panel compare the means of the trials.
            "knee_to_wall.left.2.ktw_cm": "12.5",
        },
    ),
    ("modified_thomas", {"modified_thomas.right.1.thigh_above_horizontal": "yes"}),
    ("single_leg_stance", {"single_leg_stance.right.1.pelvic_drop": "yes"}),
]


@pytest.fixture
def room_with_consent(asgi_server, service, clinician, client_record) -> Room:
    if not Exercise.objects.exists():
        exercises_load(Exercise)
    document = ConsentDocument.objects.create(
        kind=ConsentKind.IMAGES,
        version="e2e",
        title="Images",
        body="We may keep stills.",
        published_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )
    consent_accept(
        client=client_record,
        document=document,
        accepted_by=client_record.user,
        signed_name=client_record.name,
        context=SYSTEM,
    )
    return make_room(
        asgi_server,
        service=service,
        clinician=clinician,
        client=client_record,
        starts_in=dt.timedelta(minutes=5),
    )


def enter(page: Page, key: str, value: str) -> None:
    control = field(page, key)
    if control.evaluate("(element) => element.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
        control.press("Tab")
    expect(message(page, key)).to_have_text("Saved")


@pytest.mark.e2e
def test_the_clinician_records_a_full_assessment_during_the_call(
    room_with_consent: Room, launch_browser: LaunchBrowser
) -> None:
    room = room_with_consent
    url = room.server.url
    with launch_browser(args=ARGS) as browser:
        client, clinician = people(browser, room)
        client_page, clinician_page = start_call(room, client, clinician)

        # The panel sits beside the video; the clinician starts the guided assessment.
        clinician_page.get_by_role("button", name="Start the guided assessment").click()
        panel = clinician_page.locator("#assessment")
        expect(panel).to_have_attribute("data-connection", "open")
        expect(panel.get_by_role("heading", name="Guided assessment")).to_be_visible()
        prompt = client_page.locator("#prompt")
        # The client sees the first test at once, before any step is clicked.
        expect(prompt).to_be_visible()
        expect(client_page.locator("#prompt-title")).to_have_text(PROTOCOLS["aslr"].name)

        for number, (key, values) in enumerate(STEPS, start=1):
            protocol = PROTOCOLS[key]
            clinician_page.locator(f'.step-link[data-step="{key}"]').click()
            expect(clinician_page.locator(f"#step-{key}")).to_be_visible()
            # The client's screen shows the step's instructions and framing hint, live.
            expect(prompt).to_be_visible()
            expect(client_page.locator("#prompt-title")).to_have_text(protocol.name)
            expect(client_page.locator("#prompt-step")).to_have_text(
                f"Test {number} of {len(PROTOCOLS)}"
            )
            expect(client_page.locator("#prompt-view")).to_have_text(
                f"{protocol.view_label}: {protocol.framing}"
            )
            expect(client_page.locator("#prompt-instructions li")).to_have_text(
                list(protocol.instructions)
            )
            for address, value in values.items():
                enter(clinician_page, address, value)
            if key == "knee_to_wall":
                # Out of range: explained next to the field, not saved.
                ktw = "knee_to_wall.left.1.ktw_cm"
                field(clinician_page, ktw).fill("31")
                field(clinician_page, ktw).press("Tab")
                expect(message(clinician_page, ktw)).to_have_text(
                    "Not saved. Enter a value from 0 to 25 cm."
                )
                expect(field(clinician_page, ktw)).to_have_attribute("aria-invalid", "true")
                enter(clinician_page, ktw, "12")
                expect(clinician_page.locator("#step-knee_to_wall .lr-summary")).to_have_text(
                    "Mean knee-to-wall: left 12.3 cm, right 8.5 cm; difference 3.8 cm."
                )
            if key == "lunge":
                # The means of the three trials and their difference, as the findings use them.
                expect(clinician_page.locator("#step-lunge .lr-summary")).to_have_text(
                    "Mean FPPA: left 5°, right 15.2°; difference 10.2°."
                )
                snapshot = clinician_page.locator("#step-lunge").get_by_role(
                    "button", name="Take a snapshot of the client's video"
                )
                snapshot.click()
                expect(clinician_page.locator("#step-lunge .snapshot-status")).to_have_text(
                    "Snapshot kept with Lunge knee tracking."
                )

        expect(panel).to_have_attribute("data-pending", "0")
        expect(clinician_page.locator("#assessment-save-status")).to_have_text("All changes saved.")
        # Every value is on the server: a second window has them all.
        assessment_page = clinician.new_page()
        assessment_page.goto(f"{url}/appointments/{room.uuid}/assessment/panel/")
        expect(assessment_page.locator('[data-key="faber.left.1.faber_height_cm"]')).to_have_value(
            "18"
        )

        confirmations: list[str] = []

        def accept(dialog: Dialog) -> None:
            confirmations.append(dialog.message)
            dialog.accept()

        clinician_page.once("dialog", accept)
        clinician_page.get_by_role("button", name="Complete the assessment").click()
        completed = clinician_page.locator("#assessment")
        expect(completed.get_by_role("heading", level=2)).to_have_text(
            "Guided assessment completed"
        )
        expect(completed).to_contain_text("Knee-to-wall: right ankle stiffer")
        expect(completed).to_contain_text("Right knee tracks inward in the lunge")
        assert confirmations == [
            "Complete the assessment? The results will be locked; later changes become addenda."
        ]
        # The instructions leave the client's screen; the call goes on.
        expect(prompt).to_be_hidden()
        expect(client_page.locator("#room")).to_have_attribute("data-connection", "connected")

    assessment = Assessment.objects.get(appointment__uuid=room.uuid)
    assert assessment.status == AssessmentStatus.COMPLETED
    entered = {key: value for _, values in STEPS for key, value in values.items()}
    stored = {row.key: row.value for row in ResultValue.objects.filter(assessment=assessment)}
    assert set(stored) == set(entered)
    assert stored["faber.right.1.faber_height_cm"] == 12.5
    assert stored["lunge.right.2.knee_position"] == "medial_to_big_toe"
    assert stored["seated_cross_legged.left.1.sits_higher"] is True
    findings = set(Finding.objects.filter(assessment=assessment).values_list("key", "side"))
    assert {
        ("aslr_positive", "right"),
        ("aslr_asymmetry", "right"),
        ("seated_asymmetry", "left"),
        ("faber_asymmetry", "left"),
        ("faber_positive", "left"),
        ("lunge_valgus", "right"),
        ("fppa_asymmetry", "right"),
        ("fppa_high", "right"),
        ("ktw_asymmetry", "right"),
        ("ktw_restricted", "right"),
        ("thomas_one_joint", "right"),
        ("trendelenburg", "right"),
    } == findings
    assert Snapshot.objects.get(assessment=assessment).protocol == "lunge"
    plan = Plan.objects.get(assessment=assessment)
    assert [phase.kind for phase in plan.phases.all()] == ["restore", "activate", "strengthen"]


# --- Offline, two tabs, and after the call ---------------------------------------------------


def open_record(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")


@pytest.fixture
def started(room: Room, clinician) -> str:
    """The record page of Maya's assessment in Ana's session, started before the browser."""
    appointment = Appointment.objects.get(uuid=room.uuid)
    assessment = assessment_start_for_appointment(
        appointment=appointment, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )
    return f"{room.server.url}/assessments/{assessment.uuid}/"


@pytest.mark.e2e
def test_a_value_entered_offline_survives_a_reload_and_is_saved_when_back_online(
    room: Room, started: str, launch_browser: LaunchBrowser
) -> None:
    ktw = "knee_to_wall.left.1.ktw_cm"
    with launch_browser() as browser:
        laptop = person(browser, url=room.server.url, session=room.clinician_session, name="laptop")
        tablet = person(browser, url=room.server.url, session=room.clinician_session, name="tablet")
        page = laptop.new_page()
        network = PanelSocket(page)
        open_record(page, started)
        open_step(page, "knee_to_wall")

        network.off(http=True)
        type_in(page, ktw, "11.5")
        status = page.locator("#assessment-save-status")
        expect(status).to_have_text(
            "Offline: 1 change(s) will be saved when the connection is back."
        )
        expect(message(page, ktw)).to_have_text("Waiting to be sent")
        # Reloading without a network shows the browser's error page.
        with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
            page.reload()

        # The network is back for pages, not yet for the socket: the reloaded page has the
        # edit from the browser's storage, still to be saved (another device does not have it).
        network.on(socket=False)
        page.goto(started)
        open_step(page, "knee_to_wall")
        expect(field(page, ktw)).to_have_value("11.5")
        expect(page.locator("#assessment")).to_have_attribute("data-pending", "1")
        expect(status).to_have_text(
            "Offline: 1 change(s) will be saved when the connection is back."
        )
        other = tablet.new_page()
        open_record(other, started)
        open_step(other, "knee_to_wall")
        expect(field(other, ktw)).to_have_value("")

        # Fully back: the socket reconnects (with backoff) and the edit is saved.
        network.on()
        expect(page.locator("#assessment")).to_have_attribute(
            "data-connection", "open", timeout=20_000
        )
        expect(message(page, ktw)).to_have_text("Saved")
        expect(status).to_have_text("All changes saved.")
        expect(page.locator("#assessment")).to_have_attribute("data-pending", "0")
        # The other device hears it live.
        expect(field(other, ktw)).to_have_value("11.5")

    row = ResultValue.objects.get(assessment__appointment__uuid=room.uuid)
    assert (row.key, row.value, row.version) == (ktw, 11.5, 1)


@pytest.mark.e2e
def test_two_tabs_editing_one_value_are_asked_which_to_keep(
    room: Room, started: str, launch_browser: LaunchBrowser
) -> None:
    key = "knee_to_wall.left.1.ktw_cm"
    with launch_browser() as browser:
        laptop = person(browser, url=room.server.url, session=room.clinician_session, name="laptop")
        first, second = laptop.new_page(), laptop.new_page()
        network = PanelSocket(second)
        for page in (first, second):
            open_record(page, started)
            open_step(page, "knee_to_wall")

        def clash(mine: str, theirs: str, *, reload: bool = False) -> None:
            """The second tab, its socket cut off, edits the value the first tab saves
            meanwhile (``reload``: and is reloaded before its socket is back)."""
            network.off(http=False)
            type_in(second, key, mine)
            enter(first, key, theirs)
            if reload:
                # The first tab's save did not wipe the second's edit from their storage.
                second.reload()
                open_step(second, "knee_to_wall")
                expect(field(second, key)).to_have_value(mine)
                expect(second.locator("#assessment")).to_have_attribute("data-pending", "1")
            network.on()
            expect(message(second, key)).to_contain_text(
                f"Maya Okafor changed this to “{theirs}” in another window.", timeout=20_000
            )
            expect(second.locator("#assessment-save-status")).to_have_text(
                "1 value(s) changed in another window: choose which to keep."
            )
            expect(field(second, key)).to_have_value(mine)

        # Keep mine: the second tab's value is saved over the first's, and the first hears it.
        clash(mine="10", theirs="12", reload=True)
        second.get_by_role("button", name="Keep mine").click()
        expect(message(second, key)).to_have_text("Saved")
        expect(field(first, key)).to_have_value("10")
        expect(message(first, key)).to_have_text("Changed by Maya Okafor")

        # Use theirs: the second tab takes the first tab's value and saves nothing.
        clash(mine="9", theirs="13")
        second.get_by_role("button", name="Use theirs").click()
        expect(field(second, key)).to_have_value("13")
        expect(second.locator("#assessment-save-status")).to_have_text("All changes saved.")
        expect(second.locator("#assessment")).to_have_attribute("data-pending", "0")
        # A reload does not bring the discarded edit back.
        second.reload()
        open_step(second, "knee_to_wall")
        expect(field(second, key)).to_have_value("13")
        expect(second.locator("#assessment")).to_have_attribute("data-pending", "0")

    row = ResultValue.objects.get(assessment__appointment__uuid=room.uuid, field="ktw_cm")
    # 12 (first), 10 (kept mine), 13 (first again): every choice written once, nothing silently.
    assert (row.value, row.version) == (13, 3)


@pytest.mark.e2e
def test_the_assessment_is_completed_after_the_call(
    asgi_server, service, clinician, client_record, library, launch_browser: LaunchBrowser
) -> None:
    # The session ended two hours ago; during it Maya recorded the ankle test.
    appointment = factories.make_appointment(
        service=service,
        clinician=clinician,
        client=client_record,
        starts_at=timezone.now().replace(microsecond=0) - dt.timedelta(hours=3),
        status=AppointmentStatus.COMPLETED,
    )
    assessment = assessment_start_for_appointment(
        appointment=appointment, actor=clinician.user, context=SYSTEM, now=timezone.now()
    )
    record(
        assessment,
        clinician.user,
        {"knee_to_wall.left.1.ktw_cm": 12, "knee_to_wall.right.1.ktw_cm": 8},
    )
    url = asgi_server.url
    clinician_session = session_key_for(clinician.user)
    client_session = session_key_for(client_record.user)

    with launch_browser() as browser:
        maya = person(browser, url=url, session=clinician_session, name="clinician")
        page = maya.new_page()
        page.goto(f"{url}/clinic/clients/{client_record.uuid}/")
        assessments = page.locator("#assessments")
        expect(assessments.get_by_role("row").nth(1)).to_contain_text("In progress")
        assessments.get_by_role("link").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Assessment of Ana Silva")
        expect(page.locator("#assessment")).to_have_attribute("data-connection", "open")
        open_step(page, "knee_to_wall")
        expect(field(page, "knee_to_wall.right.1.ktw_cm")).to_have_value("8")
        open_step(page, "lunge")
        enter(page, "lunge.right.1.knee_position", "medial_to_big_toe")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Complete the assessment").click()
        panel = page.locator("#assessment")
        expect(panel.get_by_role("heading", level=2)).to_have_text("Guided assessment completed")
        expect(panel).to_contain_text("Right ankle dorsiflexion restricted")
        expect(panel).to_contain_text("Right knee tracks inward in the lunge")
        results = panel.get_by_role("link", name="Open the results")
        results_url = results.get_attribute("href")

        # Ana reads her results from her own account.
        ana = person(browser, url=url, session=client_session, name="client")
        hers = ana.new_page()
        hers.goto(f"{url}{results_url}")
        expect(hers.get_by_role("heading", level=1)).to_have_text("Your assessment results")
        # In plain words: the clinical terms are for clinicians.
        expect(hers.locator("main")).to_contain_text(
            "Your right ankle does not bend as far as it should"
        )
        expect(hers.locator("main")).not_to_contain_text("dorsiflexion")

    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.completed_at > appointment.ends_at
    assert set(Finding.objects.filter(assessment=assessment).values_list("key", "side")) == {
        ("ktw_asymmetry", "right"),
        ("ktw_restricted", "right"),
        ("lunge_valgus", "right"),
    }
