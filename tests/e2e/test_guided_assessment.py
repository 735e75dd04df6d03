"""During a real call in two browsers the clinician records a full guided assessment: each step
shows the client what to do, every value is saved as it is entered, a value out of range is
explained next to its field, a snapshot of the client's video is kept (the client consented to
images), and completing locks the results, stores the findings and proposes a plan."""

import datetime as dt

import pytest
from playwright.sync_api import Dialog, Page, expect

from assessments.exercise_library import exercises_load
from assessments.models import (
    Assessment,
    AssessmentStatus,
    Exercise,
    Finding,
    Plan,
    ResultValue,
    Snapshot,
)
from assessments.protocols import PROTOCOLS
from clinic.audit import SYSTEM
from clinic.models import ConsentDocument, ConsentKind
from clinic.services import consent_accept
from tests.e2e.conftest import LaunchBrowser, Room, make_room
from tests.e2e.test_video_call import ARGS, person, start_call

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
        {"knee_to_wall.left.1.ktw_cm": "12", "knee_to_wall.right.1.ktw_cm": "8.5"},
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


def field(page: Page, key: str):
    return page.locator(f'[data-key="{key}"]')


def message(page: Page, key: str):
    return page.locator(f'[id="m-{key}"]')


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
        client = person(browser, url=url, session=room.client_session, name="client")
        clinician = person(browser, url=url, session=room.clinician_session, name="clinician")
        client_page, clinician_page = start_call(room, client, clinician)

        # The panel sits beside the video; the clinician starts the guided assessment.
        clinician_page.get_by_role("button", name="Start the guided assessment").click()
        panel = clinician_page.locator("#assessment")
        expect(panel).to_have_attribute("data-connection", "open")
        expect(panel.get_by_role("heading", name="Guided assessment")).to_be_visible()
        prompt = client_page.locator("#prompt")
        expect(prompt).to_be_hidden()

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
                expect(message(clinician_page, ktw)).to_have_text("Enter a value from 0 to 25 cm.")
                expect(field(clinician_page, ktw)).to_have_attribute("aria-invalid", "")
                enter(clinician_page, ktw, "12")
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
