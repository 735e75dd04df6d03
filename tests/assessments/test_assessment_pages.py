"""The assessment pages: the panel in the room, the record page without JavaScript, snapshots,
completion, addenda, results for the client, and who may see or change what."""

import struct
import zlib
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assessments.models import (
    Addendum,
    AssessmentSetting,
    AssessmentStatus,
    Finding,
    Plan,
    ResultValue,
    Snapshot,
    ValueSource,
)
from assessments.services import assessment_complete, assessment_value_save
from clinic.audit import SYSTEM
from clinic.models import AuditEvent, ConsentKind
from tests.assessments.conftest import answered_findings, images_consent, jpeg, record

pytestmark = pytest.mark.django_db


def complete(assessment, user):
    return assessment_complete(
        assessment=assessment, actor=user, context=SYSTEM, now=timezone.now()
    )


def png_bomb(width: int, height: int, *, pixels: bytes | None = None) -> bytes:
    """A valid black-and-white PNG of this size: all zeros compress to almost nothing, so
    20000 × 10000 pixels take about 25 KB (``pixels`` replaces the compressed image data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    if pixels is None:
        row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then 1 bit a pixel
        compressor = zlib.compressobj(9)
        pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _upload(data: bytes, name: str = "snapshot.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


# --- The panel in the room ------------------------------------------------------------------


def test_the_clinician_starts_the_assessment_from_the_room_panel(
    as_clinician, session_soon, library
) -> None:
    panel_url = reverse("assessments:panel_for_appointment", args=[session_soon.uuid])
    page = as_clinician.get(panel_url)
    assert page.status_code == 200
    assert b"Start the guided assessment" in page.content

    started = as_clinician.post(
        reverse("assessments:start_for_appointment", args=[session_soon.uuid]),
        headers={"HX-Request": "true"},
    )
    assert started.status_code == 200
    html = started.content.decode()
    assert 'id="assessment"' in html
    for name in (
        "Active straight leg raise",
        "Figure-4 (FABER)",
        "Lunge knee tracking",
        "Knee-to-wall (ankle)",
        "Modified Thomas test",
    ):
        assert name in html
    assert 'data-key="lunge.right.3.fppa_deg"' in html
    # No steps where PROTOCOLS.md has none (one decimal); 0.5 cm for the knee-to-wall.
    assert 'min="-30" max="40" step="0.1"' in html
    assert 'min="0" max="25" step="0.5"' in html
    # Up to three trials of the measured tests; what is rated once has one input per side.
    for key in (
        "aslr.left.3.slr_angle_deg",
        "faber.right.2.faber_height_cm",
        "knee_to_wall.left.3.ktw_cm",
        "knee_to_wall.left.2.pain",
    ):
        assert f'data-key="{key}"' in html
    for key in ("aslr.left.2.aslr_score", "knee_to_wall.right.3.footwear"):
        assert f'data-key="{key}"' not in html
    assert html.count("Recorded once, in trial 1") == 2 * 2 * 2 + 2 * 2  # aslr 2, ktw 1 field
    # Left/right means of each compared measurement, live in the panel.
    for field in ("slr_angle_deg", "faber_height_cm", "fppa_deg", "ktw_cm"):
        assert f'class="lr-summary" data-field="{field}"' in html
    assessment = session_soon.assessment
    assert assessment.setting == AssessmentSetting.VIDEO
    assert assessment.client == session_soon.client
    # Starting again gives the same assessment.
    as_clinician.post(reverse("assessments:start_for_appointment", args=[session_soon.uuid]))
    assert type(assessment).objects.filter(appointment=session_soon).count() == 1
    assert b'id="assessment"' in as_clinician.get(panel_url).content


@pytest.mark.parametrize(
    ("persona", "status"),
    [("as_client", 403), ("as_other_clinician", 404), ("as_other_client", 403), ("as_admin", 403)],
)
def test_only_the_sessions_clinician_has_the_panel(request, persona, status, session_soon) -> None:
    http = request.getfixturevalue(persona)
    assert (
        http.get(reverse("assessments:panel_for_appointment", args=[session_soon.uuid])).status_code
        == status
    )
    assert (
        http.post(
            reverse("assessments:start_for_appointment", args=[session_soon.uuid])
        ).status_code
        == status
    )
    assert not type(session_soon).objects.filter(assessment__isnull=False).exists()


def test_a_stranger_is_sent_to_sign_in(as_stranger, assessment) -> None:
    response = as_stranger.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("clinic:login"))


# --- Recording without JavaScript ------------------------------------------------------------


def test_a_step_is_saved_with_one_button_without_javascript(as_clinician, assessment) -> None:
    url = reverse("assessments:step_save", args=[assessment.uuid, "knee_to_wall"])
    response = as_clinician.post(
        url,
        {
            "knee_to_wall.left.1.ktw_cm": "11.5",
            "knee_to_wall.right.1.ktw_cm": "8",
            "knee_to_wall.right.1.heel_lifted": "yes",
            "base:knee_to_wall.left.1.ktw_cm": "0",
            "base:knee_to_wall.right.1.ktw_cm": "0",
            "base:knee_to_wall.right.1.heel_lifted": "0",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#step-knee_to_wall")
    values = dict(
        ResultValue.objects.filter(assessment=assessment)
        .values_list("side", "value")
        .filter(field="ktw_cm")
    )
    assert values == {"left": 11.5, "right": 8}
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert b"Knee-to-wall (ankle) saved." in page.content
    assert b'value="11.5"' in page.content


class StepForm(HTMLParser):
    """What a browser without JavaScript submits for one step's form: every input's value and
    every select's chosen option."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, None
        self.data: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.inside = attributes.get("action") == self.action
        elif not self.inside or "name" not in attributes:
            if tag == "option" and self.inside and self.select and "selected" in attributes:
                self.data[self.select] = attributes.get("value", "")
        elif tag == "input":
            self.data[attributes["name"]] = attributes.get("value") or ""
        elif tag == "select":
            self.select = attributes["name"]
            self.data[self.select] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def step_form(http, assessment, protocol: str) -> dict[str, str]:
    action = reverse("assessments:step_save", args=[assessment.uuid, protocol])
    form = StepForm(action)
    form.feed(http.get(reverse("assessments:detail", args=[assessment.uuid])).content.decode())
    assert form.data, f"no form posting to {action}"
    return form.data


def test_saving_a_step_without_javascript_keeps_untouched_values_as_they_are(
    as_clinician, assessment, clinician
) -> None:
    measured = {"measurement": "m-1", "model": "MediaPipe Pose", "confidence": 0.91}
    assessment_value_save(
        assessment_id=assessment.pk,
        actor=clinician.user,
        key="lunge.left.1.fppa_deg",
        raw=12.5,
        base_version=0,
        context=SYSTEM,
        now=timezone.now(),
        source=ValueSource.VIDEO,
        measurement=measured,
    )
    form = step_form(as_clinician, assessment, "lunge")
    assert form["lunge.left.1.fppa_deg"] == "12.5"
    # Meanwhile another window records a value this page shows empty.
    record(assessment, clinician.user, {"lunge.right.1.fppa_deg": 14})
    # The clinician changes one field and saves the whole step.
    form["lunge.left.1.knee_position"] = "over_big_toe"
    response = as_clinician.post(
        reverse("assessments:step_save", args=[assessment.uuid, "lunge"]), form, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lunge knee tracking saved." in html
    assert "Changed meanwhile" not in html  # the untouched empty cell is no conflict
    rows = {row.key: row for row in ResultValue.objects.filter(assessment=assessment)}
    assert rows["lunge.left.1.knee_position"].value == "over_big_toe"
    # The measured value the form sent back untouched is still measured from video.
    fppa = rows["lunge.left.1.fppa_deg"]
    assert (fppa.value, fppa.source, fppa.version) == (12.5, ValueSource.VIDEO, 1)
    assert fppa.measurement == measured
    assert rows["lunge.right.1.fppa_deg"].value == 14
    assert set(rows) == {
        "lunge.left.1.knee_position",
        "lunge.left.1.fppa_deg",
        "lunge.right.1.fppa_deg",
    }
    assert '<p class="measured">Measured from video with MediaPipe Pose</p>' in html


def test_a_bad_value_is_explained_next_to_its_field_and_the_rest_is_kept(
    as_clinician, assessment
) -> None:
    url = reverse("assessments:step_save", args=[assessment.uuid, "faber"])
    response = as_clinician.post(
        url,
        {
            "faber.left.1.faber_height_cm": "55",
            "faber.right.1.faber_height_cm": "13",
            "faber.right.1.pain": "eleven",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    # In the page's error summary too, linked to the field, and the title says so.
    assert "<title>Error: " in html
    assert '<a href="#f-faber.left.1.faber_height_cm">' in html
    assert (
        'id="m-faber.left.1.faber_height_cm">Not saved. Enter a value from 0 to 40 cm.</p>' in html
    )
    assert 'id="m-faber.right.1.pain">Not saved. Enter a number.</p>' in html
    # The refused values stay in their fields as typed, marked not saved.
    refused = _input_tag(html, "faber.left.1.faber_height_cm")
    assert 'value="55"' in refused
    assert 'aria-invalid="true"' in refused
    assert 'data-state="refused"' in refused
    assert 'value="eleven"' in _input_tag(html, "faber.right.1.pain")
    saved = _input_tag(html, "faber.right.1.faber_height_cm")
    assert 'value="13"' in saved
    assert "aria-invalid" not in saved
    assert ResultValue.objects.get(assessment=assessment).value == 13


def _input_tag(html: str, key: str) -> str:
    start = html.index(f'id="f-{key}"')
    return html[html.rindex("<input", 0, start) : html.index(">", start) + 1]


def test_an_off_step_value_is_refused_with_the_nearest_valid_values(
    as_clinician, assessment
) -> None:
    # The same message as over the socket: the rule says it, not the page.
    response = as_clinician.post(
        reverse("assessments:step_save", args=[assessment.uuid, "knee_to_wall"]),
        {"knee_to_wall.left.1.ktw_cm": "9.2"},
    )
    assert response.status_code == 400
    assert (
        'id="m-knee_to_wall.left.1.ktw_cm">Not saved. Use steps of 0.5 cm: 9 or 9.5 cm.</p>'
        in response.content.decode()
    )
    assert not ResultValue.objects.filter(assessment=assessment).exists()


def test_a_value_changed_meanwhile_elsewhere_is_not_overwritten(
    as_clinician, assessment, clinician
) -> None:
    record(assessment, clinician.user, {"faber.left.1.faber_height_cm": 14})
    response = as_clinician.post(
        reverse("assessments:step_save", args=[assessment.uuid, "faber"]),
        {"faber.left.1.faber_height_cm": "20", "base:faber.left.1.faber_height_cm": "0"},
        follow=True,
    )
    assert "Changed meanwhile in another window, so not saved" in response.content.decode()
    assert ResultValue.objects.get(assessment=assessment).value == 14


def test_an_in_person_assessment_starts_from_the_client_record(
    as_clinician, client_record, appointment, library
) -> None:
    response = as_clinician.post(reverse("assessments:start_in_person", args=[client_record.uuid]))
    assert response.status_code == 302
    assessment = client_record.assessments.get()
    assert assessment.setting == AssessmentSetting.IN_PERSON
    assert assessment.appointment is None
    page = as_clinician.get(response["Location"])
    assert b"In-person visit" in page.content
    assert b"Complete the assessment" in page.content


def test_in_person_assessments_only_for_ones_own_clients(as_other_clinician, client_record) -> None:
    response = as_other_clinician.post(
        reverse("assessments:start_in_person", args=[client_record.uuid])
    )
    assert response.status_code == 404
    assert not client_record.assessments.exists()


# --- Snapshots -------------------------------------------------------------------------------


def test_a_snapshot_is_kept_when_the_client_consented_to_images(
    as_clinician, assessment, client_record, as_client, as_other_clinician
) -> None:
    images_consent(client_record)
    url = reverse("assessments:snapshot_upload", args=[assessment.uuid])
    response = as_clinician.post(url, {"protocol": "lunge", "image": _upload(jpeg())})
    assert response.status_code == 201, response.content
    snapshot = Snapshot.objects.get()
    assert (snapshot.protocol, snapshot.width, snapshot.height) == ("lunge", 64, 48)
    assert snapshot.consent.document.kind == ConsentKind.IMAGES
    image_url = reverse("assessments:snapshot_image", args=[assessment.uuid, snapshot.uuid])
    image = as_clinician.get(image_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"] == "private, no-store"
    assert b"".join(image.streaming_content)[:2] == b"\xff\xd8"
    # Not for the client, nor another clinician.
    assert as_client.get(image_url).status_code == 403
    assert as_other_clinician.get(image_url).status_code == 404


def test_without_consent_to_images_no_snapshot_is_kept(as_clinician, assessment) -> None:
    response = as_clinician.post(
        reverse("assessments:snapshot_upload", args=[assessment.uuid]),
        {"protocol": "lunge", "image": _upload(jpeg())},
    )
    assert response.status_code == 409
    assert response.json() == {
        "error": "Ana Silva has not agreed to images being kept, so the snapshot was not saved."
    }
    assert not Snapshot.objects.exists()


@pytest.mark.parametrize(
    ("data", "fields", "message"),
    [
        (b"<svg onload=alert(1)>", {"protocol": "lunge"}, "not a JPEG or PNG image"),
        (jpeg(5000, 10), {"protocol": "lunge"}, "larger than 4096 pixels"),
        (b"\xff" * (3 * 1024 * 1024 + 1), {"protocol": "lunge"}, "larger than 3 MB"),
        (jpeg(), {"protocol": "yoga"}, "Unknown test"),
        (jpeg(), {"protocol": "lunge", "side": "left", "trial": "4"}, "trials 1 to 3"),
        (jpeg(), {"protocol": "lunge", "side": "left", "trial": "x"}, "must be a number"),
        # A trial without a side is checked against the test as well.
        (jpeg(), {"protocol": "lunge", "trial": "40000"}, "Lunge knee tracking has trials 1 to 3"),
        (jpeg(), {"protocol": "lunge", "trial": "-3"}, "Lunge knee tracking has trials 1 to 3"),
        (jpeg(), {"protocol": "lunge", "trial": "0"}, "Lunge knee tracking has trials 1 to 3"),
        (jpeg(), {"protocol": "seated_cross_legged", "trial": "2"}, "has trial 1 only"),
        (jpeg(), {"protocol": "lunge", "side": "middle"}, "left or right"),
        # Decompression bombs: a few hundred kilobytes that decode to hundreds of megapixels
        # (Pillow raises above 179 million pixels and warns above 89 million).
        (png_bomb(20_000, 10_000), {"protocol": "lunge"}, "larger than 4096 pixels on a side"),
        (png_bomb(10_000, 9_000), {"protocol": "lunge"}, "larger than 4096 pixels on a side"),
        # Within 4096 a side but more than a 4K video frame holds.
        (png_bomb(4_000, 4_000), {"protocol": "lunge"}, "more than 8.3 million pixels"),
        # A PNG whose chunks are intact but whose pixels do not decode.
        (png_bomb(64, 48, pixels=b"not zlib"), {"protocol": "lunge"}, "not a JPEG or PNG image"),
    ],
)
def test_bad_snapshots_are_refused_with_a_reason(
    as_clinician, assessment, client_record, data, fields, message
) -> None:
    images_consent(client_record)
    response = as_clinician.post(
        reverse("assessments:snapshot_upload", args=[assessment.uuid]),
        {**fields, "image": _upload(data)},
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Snapshot.objects.exists()


def test_a_png_snapshot_is_stored_as_jpeg(as_clinician, assessment, client_record) -> None:
    images_consent(client_record)
    response = as_clinician.post(
        reverse("assessments:snapshot_upload", args=[assessment.uuid]),
        {"protocol": "faber", "side": "left", "image": _upload(jpeg(image_format="PNG"))},
    )
    assert response.status_code == 201
    with Snapshot.objects.get().image.open("rb") as stored:
        assert stored.read(2) == b"\xff\xd8"


# --- Completing, findings and addenda ---------------------------------------------------------


def test_completing_locks_stores_findings_and_proposes_a_plan(
    as_clinician, assessment, clinician, django_capture_on_commit_callbacks
) -> None:
    record(
        assessment,
        clinician.user,
        {
            "knee_to_wall.left.1.ktw_cm": 12,
            "knee_to_wall.right.1.ktw_cm": 8,
            "lunge.right.1.knee_position": "medial_to_big_toe",
        },
    )
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        response = as_clinician.post(
            reverse("assessments:complete", args=[assessment.uuid]),
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    assert b"Guided assessment completed" in response.content
    assert after_commit, "the plan is asked for after the commit"
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.completed_by == clinician.user
    assert sorted(Finding.objects.values_list("key", "side")) == [
        ("ktw_asymmetry", "right"),
        ("ktw_restricted", "right"),
        ("lunge_valgus", "right"),
    ]
    # The plan task ran after the commit (Celery runs eagerly in these tests).
    plan = Plan.objects.get(assessment=assessment)
    assert answered_findings(plan) >= {"ktw_restricted:right", "lunge_valgus:right"}
    # The page now shows results, not inputs, and completing again changes nothing.
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert b"Add an addendum" in page.content
    assert b"data-key=" not in page.content
    again = as_clinician.post(reverse("assessments:complete", args=[assessment.uuid]))
    assert again.status_code == 302
    assert Plan.objects.count() == 1


def test_an_empty_assessment_cannot_be_completed(as_clinician, assessment) -> None:
    response = as_clinician.post(
        reverse("assessments:complete", args=[assessment.uuid]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert b"Record at least one result before completing" in response.content
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.DRAFT


def test_a_correction_after_completion_is_an_addendum_and_the_findings_follow(
    as_clinician, assessment, clinician
) -> None:
    record(
        assessment,
        clinician.user,
        {"faber.left.1.faber_height_cm": 17, "faber.right.1.faber_height_cm": 12},
    )
    complete(assessment, clinician.user)
    assert Finding.objects.filter(key="faber_asymmetry").exists()
    url = reverse("assessments:addendum", args=[assessment.uuid])
    response = as_clinician.post(
        url,
        {
            "body": "Re-measured the left side: the tape had slipped.",
            "key": "faber.left.1.faber_height_cm",
            "value": "14",
        },
    )
    assert response.status_code == 302
    addendum = Addendum.objects.get()
    assert (addendum.previous_value, addendum.corrected_value) == (17, 14)
    assert addendum.author == clinician.user
    assert not Finding.objects.filter(key="faber_asymmetry").exists()
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid])).content.decode()
    assert "Re-measured the left side" in page
    assert "Figure-4 (FABER), left, trial 1: knee height above the surface 17 cm → 14 cm" in page
    # A bad correction is explained and changes nothing.
    response = as_clinician.post(
        url, {"body": "typo", "key": "faber.left.1.faber_height_cm", "value": "400"}
    )
    assert response.status_code == 400
    assert "Enter a value from 0 to 40 cm." in response.content.decode()
    assert ResultValue.objects.get(field="faber_height_cm", side="left").value == 14


def test_addenda_are_only_for_completed_assessments_by_their_clinician(
    as_clinician, as_other_clinician, assessment, clinician
) -> None:
    url = reverse("assessments:addendum", args=[assessment.uuid])
    response = as_clinician.post(url, {"body": "Too early"})
    assert response.status_code == 409
    assert "still open: change the values directly" in response.content.decode()
    record(assessment, clinician.user, {"aslr.left.1.aslr_score": 1})
    complete(assessment, clinician.user)
    assert as_other_clinician.post(url, {"body": "Not mine"}).status_code == 404
    assert not Addendum.objects.exists()


# --- Who sees what --------------------------------------------------------------------------


def test_the_client_reads_completed_results_and_findings_only(
    as_client, assessment, clinician
) -> None:
    url = reverse("assessments:detail", args=[assessment.uuid])
    record(
        assessment,
        clinician.user,
        {
            "knee_to_wall.left.1.ktw_cm": 7,
            "knee_to_wall.left.1.notes": "Private: guarded movement",
        },
    )
    assert as_client.get(url).status_code == 404  # not while it is in progress
    complete(assessment, clinician.user)
    page = as_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Your assessment results" in html
    assert "Your left ankle does not bend as far as it should" in html
    assert "7 cm" in html
    assert "Private: guarded movement" not in html
    assert "data-key=" not in html
    assert "Add an addendum" not in html
    # The client cannot change anything.
    assert (
        as_client.post(
            reverse("assessments:addendum", args=[assessment.uuid]), {"body": "x"}
        ).status_code
        == 403
    )
    assert (
        as_client.post(reverse("assessments:complete", args=[assessment.uuid])).status_code == 403
    )


class PageText(HTMLParser):
    """The text of a page as people read it (no tags, attributes, scripts or styles)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skipping += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skipping -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def page_text(html: str) -> str:
    parser = PageText()
    parser.feed(html)
    return " ".join(parser.parts)


# Ben's first assessment in the demo clinic: most rules fire.
FIRST_VISIT = {
    "aslr.left.1.aslr_score": 2,
    "aslr.right.1.aslr_score": 1,
    "faber.left.1.faber_height_cm": 19,
    "faber.right.1.faber_height_cm": 13,
    "lunge.left.1.knee_position": "medial_to_big_toe",
    "lunge.left.1.fppa_deg": 17,
    "lunge.left.2.fppa_deg": 18.5,
    "lunge.left.3.fppa_deg": 16,
    "lunge.right.1.fppa_deg": 7,
    "knee_to_wall.left.1.ktw_cm": 7.5,
    "knee_to_wall.right.1.ktw_cm": 11,
}


def test_the_client_reads_plain_words_and_the_clinician_the_clinical_terms(
    as_client, as_clinician, assessment, clinician
) -> None:
    record(assessment, clinician.user, FIRST_VISIT)
    complete(assessment, clinician.user)
    url = reverse("assessments:detail", args=[assessment.uuid])

    for_client = as_client.get(url).content.decode()
    for_clinician = as_clinician.get(url).content.decode()

    client_findings = for_client.split('id="findings-heading"')[1].split('id="results-heading"')[0]
    for plain in (
        "Lifting your legs straight took some effort",
        "Your left hip is stiffer in the figure-4 position",
        "Your left knee moved inward in the lunge",
        "Your left knee turned inward more than usual",
        "Your left knee turned inward more than your right",
        "Your left ankle is stiffer than your right",
        "Your left ankle does not bend as far as it should",
        "A stiff ankle can make the knee work harder.",
    ):
        assert plain in client_findings
    # No clinical terms, statistics or thresholds in what the client reads.
    text = page_text(for_client)
    for jargon in ("FPPA", "Mean", "positive at", "valgus", "dorsiflexion", "Mens", "≥", "(<"):
        assert jargon not in text, jargon
    assert "How hard it was (0 = not at all, 5 = could not do it)" in for_client
    assert "Angle of the knee inward, seen from the front" in for_client
    # The clinician keeps them, with the values and thresholds.
    for clinical in (
        "Active straight leg raise positive",
        "Difficulty score sum 3 of 10 (positive at 1 or more).",
        "Mean FPPA 17.2° over 3 trials, above the men&#x27;s (sex not recorded) reference",
        "Left ankle dorsiflexion restricted",
        "Difficulty (Mens 0–5)",
        "FPPA (valgus +)",
    ):
        assert clinical in for_clinician, clinical
    assert "Lifting your legs straight" not in for_clinician


@pytest.mark.parametrize("persona", ["as_other_client", "as_other_clinician"])
def test_other_people_get_not_found(request, persona, assessment, clinician) -> None:
    record(assessment, clinician.user, {"aslr.left.1.aslr_score": 2})
    complete(assessment, clinician.user)
    http = request.getfixturevalue(persona)
    assert http.get(reverse("assessments:detail", args=[assessment.uuid])).status_code == 404


def test_an_admin_reads_but_cannot_record(as_admin, assessment, clinician) -> None:
    record(assessment, clinician.user, {"aslr.left.1.aslr_score": 2})
    page = as_admin.get(reverse("assessments:detail", args=[assessment.uuid]))
    assert page.status_code == 200
    assert b"data-key=" not in page.content
    response = as_admin.post(
        reverse("assessments:step_save", args=[assessment.uuid, "aslr"]),
        {"aslr.left.1.aslr_score": "4"},
    )
    assert response.status_code == 404
    assert ResultValue.objects.get().value == 2


def test_viewing_an_assessment_is_audited(as_clinician, assessment) -> None:
    as_clinician.get(reverse("assessments:detail", args=[assessment.uuid]))
    event = AuditEvent.objects.filter(object_type="assessment", action="viewed").get()
    assert event.client == assessment.client
    assert event.object_uuid == assessment.uuid


def test_unknown_steps_and_assessments_are_not_found(as_clinician, assessment) -> None:
    assert (
        as_clinician.post(
            reverse("assessments:step_save", args=[assessment.uuid, "yoga"])
        ).status_code
        == 404
    )
    assert as_clinician.get("/assessments/not-a-uuid/").status_code == 404
    assert as_clinician.get("/assessments/8d5e9ad4-7ad7-4b62-9d0e-3c3b5d6bb0a1/").status_code == 404


# --- Thresholds: the values in use, where they come from, and which are uncertain ----------------


def test_findings_show_their_threshold_its_source_and_whether_it_is_an_uncertain_default(
    as_clinician, assessment, clinician, settings
) -> None:
    # The clinic raised the uncertain restriction threshold from 9 to 10 cm.
    settings.ASSESSMENT_THRESHOLDS = {"ktw_restricted_below_cm": 10}
    record(
        assessment,
        clinician.user,
        {
            "knee_to_wall.left.1.ktw_cm": "9.5",
            "knee_to_wall.right.1.ktw_cm": "12",
            "faber.left.1.faber_height_cm": "17",
            "faber.right.1.faber_height_cm": "12",
            "modified_thomas.left.1.knee_angle_deg": "60",
        },
    )
    panel = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid])).content.decode()
    # The scoring text the clinician reads follows the setting, marked as the clinic's.
    assert "under 10 cm (clinic setting; uncertain default 9 cm) is restricted" in panel
    assert "under 9 cm" not in panel
    assert "a difference of 4 cm or more between the sides&#x27; means is flagged" in panel
    # The findings so far say which threshold flagged them.
    assert "knee-to-wall distance below which the ankle is restricted: 10 cm" in panel

    complete(assessment, clinician.user)
    page = as_clinician.get(reverse("assessments:detail", args=[assessment.uuid])).content.decode()
    assert "Knee-to-wall 9.5 cm (&lt; 10 cm)." in page
    restricted = page[page.index("Left ankle dorsiflexion restricted") :]
    restricted = restricted[: restricted.index("</li>")]
    assert "knee-to-wall distance below which the ankle is restricted: 10 cm" in restricted
    assert "Hoch &amp; McKeon 2011" in restricted
    assert "Set by the clinic; the <strong>uncertain default</strong> is 9 cm." in restricted
    faber = page[page.index("Figure-4 (FABER): left hip stiffer") :]
    faber = faber[: faber.index("</li>")]
    assert "FABER height difference at or above: 4 cm" in faber
    assert "IJSPT 2016, PMID 27999724" in faber
    assert "ncertain" not in faber
    assert "The published default, configurable." in faber
    thomas = page[page.index("Short two-joint hip flexors on the left") :]
    thomas = thomas[: thomas.index("</li>")]
    assert "knee angle below which two-joint hip flexors are short: 67°" in thomas
    assert "<strong>Uncertain default</strong>, from a secondary source" in thomas
    # People read the meaning, not the setting's internal name.
    assert "ktw_restricted_below_cm" not in page


def test_every_scoring_text_is_built_from_the_thresholds_in_use() -> None:
    from assessments.findings import DEFAULT_THRESHOLDS, scoring_text, thresholds_with
    from assessments.protocols import PROTOCOLS

    # Every threshold set to a value no text types in: each must appear, marked as the clinic's.
    odd = {name: 701 + index for index, name in enumerate(DEFAULT_THRESHOLDS)}
    texts = " ".join(scoring_text(p, thresholds_with(odd)) for p in PROTOCOLS.values())
    for name, value in odd.items():
        assert str(value) in texts, name
    assert texts.count("clinic setting") == len(odd)
    defaults = " ".join(scoring_text(p, thresholds_with(None)) for p in PROTOCOLS.values())
    assert "under 9 cm (uncertain default) is restricted" in defaults
    assert "a sum of 1 point or more is positive" in defaults
    assert defaults.count("uncertain default") == sum(
        1 for threshold in DEFAULT_THRESHOLDS.values() if threshold.uncertain
    )


# --- The telehealth caveat ---------------------------------------------------------------------


def test_clinicians_see_the_telehealth_caveat_beside_remote_results(
    as_clinician, as_client, assessment, clinician, session_soon
) -> None:
    caveat = ("(Mani et al. 2016)", "kappa 0.635 (Richardson et al. 2016)")
    panel = as_clinician.get(
        reverse("assessments:panel_for_appointment", args=[session_soon.uuid])
    ).content.decode()
    for words in caveat:
        assert words in panel
    record(assessment, clinician.user, {"knee_to_wall.left.1.ktw_cm": 8})
    complete(assessment, clinician.user)
    completed = as_clinician.get(
        reverse("assessments:panel_for_appointment", args=[session_soon.uuid])
    ).content.decode()
    assert "Guided assessment completed" in completed
    url = reverse("assessments:detail", args=[assessment.uuid])
    results = as_clinician.get(url).content.decode()
    for words in caveat:
        assert words in completed
        assert words in results
    # The caveat is for the clinician judging remote findings, not for the client: their page
    # has the findings in plain words without a discussion of agreement statistics.
    for_client = as_client.get(url).content.decode()
    assert "Your assessment results" in for_client
    for words in ("Mani et al.", "Richardson et al.", "kappa"):
        assert words not in for_client


def test_an_in_person_assessment_has_no_telehealth_caveat(
    as_clinician, client_record, clinician, appointment, library
) -> None:
    from assessments.services import assessment_start_in_person

    assessment = assessment_start_in_person(
        client=client_record,
        clinician=clinician,
        actor=clinician.user,
        context=SYSTEM,
        now=timezone.now(),
    )
    url = reverse("assessments:detail", args=[assessment.uuid])
    recording = as_clinician.get(url).content.decode()
    assert "Complete the assessment" in recording
    assert "Mani et al." not in recording
    record(assessment, clinician.user, {"knee_to_wall.left.1.ktw_cm": 8})
    complete(assessment, clinician.user)
    page = as_clinician.get(url).content.decode()
    assert "In-person visit" in page
    assert "Mani et al." not in page


# --- Addenda: what the client reads -------------------------------------------------------------


def test_the_client_reads_corrections_but_not_the_clinicians_addendum_notes(
    as_client, as_clinician, assessment, clinician
) -> None:
    from assessments.services import addendum_add

    record(
        assessment,
        clinician.user,
        {
            "faber.left.1.faber_height_cm": 17,
            "faber.right.1.faber_height_cm": 12,
            "faber.left.1.notes": "Guarded",
        },
    )
    complete(assessment, clinician.user)
    for body, key, raw in (
        (
            "Tape slipped; re-measured. Seemed anxious about the knee.",
            "faber.left.1.faber_height_cm",
            "14",
        ),
        ("Private: discussed a referral with the GP.", "", None),
        ("Reworded my note.", "faber.left.1.notes", "Guarded, then relaxed"),
    ):
        addendum_add(
            assessment=assessment,
            actor=clinician.user,
            body=body,
            key=key,
            raw=raw,
            context=SYSTEM,
            now=timezone.now(),
        )
    url = reverse("assessments:detail", args=[assessment.uuid])
    correction = "Figure-4 (FABER), left, trial 1: knee height above the surface 17 cm → 14 cm"

    for_client = as_client.get(url).content.decode()
    assert "Corrections" in for_client
    assert correction in for_client
    assert "Maya Okafor" in for_client
    # The clinician's words stay with the clinicians, like the notes on each test.
    for private in (
        "Tape slipped",
        "Seemed anxious",
        "discussed a referral",
        "Reworded",
        "Guarded",
    ):
        assert private not in for_client

    for_clinician = as_clinician.get(url).content.decode()
    for text in (correction, "Seemed anxious", "discussed a referral", "Guarded, then relaxed"):
        assert text in for_clinician
    # The clinician writing an addendum is told what the client will read.
    assert "The client sees a corrected result with your name and the time, but not this text." in (
        for_clinician
    )
