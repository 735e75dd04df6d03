"""Changes to assessments. Each is one transaction that writes its audit row; pushes to open
pages (the client's room, the clinician's other windows) and tasks go out after commit."""

import datetime as dt
import io
import struct
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string

from assessments import findings
from assessments.findings import Context, findings_derive, thresholds_with
from assessments.models import (
    Addendum,
    Assessment,
    AssessmentSetting,
    AssessmentStatus,
    Finding,
    ResultValue,
    Snapshot,
    ValueSource,
)
from assessments.protocols import (
    PROTOCOLS,
    SIDES,
    ValueAddress,
    ValueRefused,
    address_parse,
    protocol_get,
    trial_check,
    value_clean,
)
from clinic.audit import RequestContext, audit_record_of
from clinic.models import AuditAction, Client, Clinician, Consent, ConsentKind, User
from sessions.models import Appointment
from sessions.room.services import room_prompt_set
from telehealth.live import send_after_commit
from telehealth.tasks import queue_after_commit


class AssessmentError(Exception):
    """A change the rules do not allow; ``message`` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def assessment_group(assessment: Assessment) -> str:
    """The channel-layer group of the clinician's open windows on an assessment."""
    return f"assessment.{assessment.uuid.hex}"


def _locked(assessment_id: int) -> Assessment:
    return (
        Assessment.objects.select_for_update(of=("self",))
        .select_related("client__user", "clinician__user", "appointment")
        .get(pk=assessment_id)
    )


def _check_writer(assessment: Assessment, actor: User) -> None:
    if assessment.clinician.user_id != actor.pk:
        raise AssessmentError("Only the clinician running this assessment can change it.")


def _check_draft(assessment: Assessment) -> None:
    if assessment.is_locked:
        raise AssessmentError(
            "This assessment is completed and locked. Add an addendum to correct it."
        )


# --- Starting -------------------------------------------------------------------------------


@transaction.atomic
def assessment_start_for_appointment(
    *, appointment: Appointment, actor: User, context: RequestContext, now: dt.datetime
) -> Assessment:
    """The assessment of a video session, started by its clinician (once per appointment)."""
    if appointment.clinician.user_id != actor.pk:
        raise AssessmentError("Only the appointment's clinician can run its assessment.")
    if appointment.is_cancelled:
        raise AssessmentError("This appointment was cancelled.")
    assessment, created = Assessment.objects.get_or_create(
        appointment=appointment,
        defaults={
            "client": appointment.client,
            "clinician": appointment.clinician,
            "setting": AssessmentSetting.VIDEO,
            "created_at": now,
        },
    )
    if created:
        audit_record_of(
            assessment, "assessment", actor=actor, action=AuditAction.CREATED, context=context
        )
        # The client sees the first test's instructions at once, not only once the clinician
        # clicks its tab (the prompt goes out after commit, with the assessment).
        _step_show(assessment, protocol_order()[0])
    return assessment


@transaction.atomic
def assessment_start_in_person(
    *, client: Client, clinician: Clinician, actor: User, context: RequestContext, now: dt.datetime
) -> Assessment:
    if clinician.user_id != actor.pk:
        raise AssessmentError("Only clinicians run assessments.")
    assessment = Assessment.objects.create(
        client=client, clinician=clinician, setting=AssessmentSetting.IN_PERSON, created_at=now
    )
    audit_record_of(
        assessment, "assessment", actor=actor, action=AuditAction.CREATED, context=context
    )
    return assessment


def assessment_viewed(*, assessment: Assessment, viewer: User, context: RequestContext) -> None:
    audit_record_of(
        assessment, "assessment", actor=viewer, action=AuditAction.VIEWED, context=context
    )


# --- Recording values -----------------------------------------------------------------------


@dataclass(frozen=True)
class SavedValue:
    """The value now stored at an address, after a save or when a save met a newer value."""

    address: ValueAddress
    value: Any
    version: int
    by: str
    at: dt.datetime | None
    source: str
    # False when the save found a newer value (another window changed it): nothing was written.
    saved: bool

    def as_frame(self) -> dict[str, Any]:
        return {
            "key": self.address.key,
            "value": self.value,
            "version": self.version,
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
            "source": self.source,
        }


def saved_value(row: ResultValue | None, address: ValueAddress, *, saved: bool) -> SavedValue:
    if row is None:
        return SavedValue(address, None, 0, "", None, ValueSource.MANUAL, saved)
    return SavedValue(
        address,
        row.value,
        row.version,
        row.updated_by.full_name,
        row.updated_at,
        row.source,
        saved,
    )


def _row(assessment: Assessment, address: ValueAddress) -> ResultValue | None:
    return (
        ResultValue.objects.select_related("updated_by")
        .filter(
            assessment=assessment,
            protocol=address.protocol,
            side=address.side,
            trial=address.trial,
            field=address.field,
        )
        .first()
    )


def _new_row(assessment: Assessment, address: ValueAddress) -> ResultValue:
    """A value not recorded yet (version 0 until it is saved)."""
    return ResultValue(
        assessment=assessment,
        protocol=address.protocol,
        side=address.side,
        trial=address.trial,
        field=address.field,
        version=0,
    )


def assessment_value_save(
    *,
    assessment_id: int,
    actor: User,
    key: str | ValueAddress,
    raw: Any,
    base_version: int,
    context: RequestContext,
    now: dt.datetime,
    source: ValueSource = ValueSource.MANUAL,
    measurement: dict[str, Any] | None = None,
) -> SavedValue:
    """Store one value if nobody changed it since ``base_version`` (0: never saved).

    Saving what is already stored succeeds whatever the base, so a page that resends an edit
    whose answer it missed (a dropped connection) is not told it conflicts with itself.
    Raises ValueRefused for a value or address the test does not accept, AssessmentError when
    the assessment may not be changed.
    """
    address = key if isinstance(key, ValueAddress) else address_parse(key)
    value = value_clean(address, raw)
    if isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 0:
        raise ValueRefused("The page sent no valid version: reload it.")
    with transaction.atomic():
        # One writer at a time per assessment: versions then cannot race.
        assessment = _locked(assessment_id)
        _check_writer(assessment, actor)
        _check_draft(assessment)
        row = _row(assessment, address)
        current_version = row.version if row else 0
        if row is not None and row.value == value and row.source == source:
            return saved_value(row, address, saved=True)
        if row is None and value is None:
            return saved_value(None, address, saved=True)
        if base_version != current_version:
            return saved_value(row, address, saved=False)
        if row is None:
            row = _new_row(assessment, address)
        row.version += 1
        row.value = value
        row.source = source
        row.measurement = measurement or {}
        row.updated_at = now
        row.updated_by = actor
        row.save()
        audit_record_of(
            assessment,
            "assessment",
            actor=actor,
            action=AuditAction.UPDATED,
            context=context,
            changes=[address.key],
        )
        result = saved_value(row, address, saved=True)
        send_after_commit(
            assessment_group(assessment), {"type": "assessment.value", **result.as_frame()}
        )
        # Once per save, for every window on the assessment (not once per window). Robust:
        # the value is stored whatever happens to the push, and a failed push must not make
        # the save look failed.
        transaction.on_commit(lambda: _findings_push(assessment), robust=True)
        return result


def assessment_values(assessment: Assessment) -> dict[ValueAddress, ResultValue]:
    return {
        ValueAddress(row.protocol, row.side, row.trial, row.field): row
        for row in assessment.values.select_related("updated_by")
    }


# --- The step on the client's screen ---------------------------------------------------------


def protocol_order(*, include_optional: bool = True) -> list[str]:
    return [k for k, p in PROTOCOLS.items() if include_optional or not p.optional]


def assessment_step_set(
    *, assessment_id: int, actor: User, protocol: str, now: dt.datetime, origin: str = ""
) -> Assessment:
    """The clinician opened a step: its instructions and framing hint go to the client's
    screen (empty ``protocol``: nothing is shown). ``origin``: the channel of the window that
    opened it, which is not told (see ``_step_show``)."""
    if protocol:
        protocol_get(protocol)
    with transaction.atomic():
        assessment = _locked(assessment_id)
        _check_writer(assessment, actor)
        _check_draft(assessment)
        _step_show(assessment, protocol, origin=origin)
    return assessment


def _step_show(assessment: Assessment, protocol: str, *, origin: str = "") -> None:
    """Make ``protocol`` the open step (in a transaction): the clinician's other windows and
    the client's room page hear it after commit. The window it came from (``origin``) is
    skipped: clicking through steps quickly, it would hear each of its own clicks late and be
    taken back to an earlier step."""
    if assessment.current_protocol != protocol:
        assessment.current_protocol = protocol
        assessment.save(update_fields=["current_protocol"])
        send_after_commit(
            assessment_group(assessment),
            {"type": "assessment.step", "protocol": protocol, "origin": origin},
        )
    if assessment.appointment_id:
        order = protocol_order()
        prompt = (
            PROTOCOLS[protocol].prompt(number=order.index(protocol) + 1, total=len(order))
            if protocol
            else {}
        )
        room_prompt_set(appointment_id=assessment.appointment_id, prompt=prompt)


# --- Snapshots ------------------------------------------------------------------------------

SNAPSHOT_MAX_BYTES = 3 * 1024 * 1024
SNAPSHOT_MAX_SIDE = 4096
# A 4K video frame, either way up: more than any camera sends to a call. PNG data compresses
# so well that a 3 MB file could otherwise decode to gigabytes (a decompression bomb).
SNAPSHOT_MAX_PIXELS = 3840 * 2160


def _image_header(data: bytes) -> tuple[str, int, int]:
    """The format, width and height of a JPEG or PNG, read from its header alone.

    Nothing is decoded yet, and Pillow's own decompression-bomb check in ``Image.open`` (an
    error above 179 million pixels, a warning above 89 million) is not reached: the size is
    judged against our much lower limits first.
    """
    from PIL import JpegImagePlugin, PngImagePlugin

    for plugin in (JpegImagePlugin.JpegImageFile, PngImagePlugin.PngImageFile):
        try:
            with plugin(io.BytesIO(data)) as image:
                width, height = image.size
                return str(image.format), width, height
        except (SyntaxError, OSError, ValueError, IndexError, TypeError, EOFError, struct.error):
            continue
    raise ValueRefused("The snapshot is not a JPEG or PNG image.")


def _snapshot_jpeg(data: bytes) -> tuple[bytes, int, int]:
    """The snapshot as JPEG bytes with its size, or ValueRefused saying what is wrong.

    Always encoded anew from the pixels: a photo's file can carry where and when it was taken
    and with which device (EXIF, XMP, comments), none of which belongs in a health record. The
    EXIF orientation is applied to the pixels first, so the picture stays the right way up
    once the tag is gone.
    """
    from PIL import Image, ImageOps

    image_format, width, height = _image_header(data)
    if not (0 < width <= SNAPSHOT_MAX_SIDE and 0 < height <= SNAPSHOT_MAX_SIDE):
        raise ValueRefused(f"The snapshot is larger than {SNAPSHOT_MAX_SIDE} pixels on a side.")
    if width * height > SNAPSHOT_MAX_PIXELS:
        raise ValueRefused(
            f"The snapshot has more than {SNAPSHOT_MAX_PIXELS / 1e6:.1f} million pixels."
        )
    try:
        with Image.open(io.BytesIO(data), formats=[image_format]) as image:
            # Decoding every pixel now proves the image whole; the size bounds the cost.
            image.load()
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError):
        raise ValueRefused("The snapshot is not a JPEG or PNG image.") from None
    # convert() copies the source's info (a JPEG comment among it), which save() would write.
    upright.info = {}
    encoded = io.BytesIO()
    upright.save(encoded, format="JPEG", quality=90)
    width, height = upright.size
    return encoded.getvalue(), width, height


def images_consent(client: Client) -> Consent | None:
    """The client's consent to keeping images, if they gave it."""
    return (
        Consent.objects.filter(client=client, document__kind=ConsentKind.IMAGES)
        .select_related("document")
        .order_by("-accepted_at")
        .first()
    )


def snapshot_add(
    *,
    assessment: Assessment,
    actor: User,
    protocol: str,
    side: str,
    trial: int | None,
    data: bytes,
    context: RequestContext,
    now: dt.datetime,
) -> Snapshot:
    """Keep a still of the client's video with the step's result, if the client consented."""
    definition = protocol_get(protocol)
    if side and side not in SIDES:
        raise ValueRefused("Side must be left or right.")
    if trial is not None:
        trial_check(definition, trial)
    if len(data) > SNAPSHOT_MAX_BYTES:
        raise ValueRefused("The image is larger than 3 MB.")
    data, width, height = _snapshot_jpeg(data)
    snapshot = None
    try:
        with transaction.atomic():
            assessment = _locked(assessment.pk)
            _check_writer(assessment, actor)
            _check_draft(assessment)
            consent = images_consent(assessment.client)
            if consent is None:
                raise AssessmentError(
                    f"{assessment.client.name} has not agreed to images being kept, so the "
                    "snapshot was not saved."
                )
            snapshot = Snapshot(
                assessment=assessment,
                protocol=protocol,
                side=side,
                trial=trial,
                width=width,
                height=height,
                consent=consent,
                taken_at=now,
                taken_by=actor,
            )
            snapshot.image.save(f"{snapshot.uuid}.jpg", ContentFile(data), save=False)
            snapshot.save()
            audit_record_of(
                assessment,
                "assessment",
                actor=actor,
                action=AuditAction.CREATED,
                context=context,
                changes=[f"snapshot.{protocol}"],
            )
    except BaseException:
        # A rolled-back snapshot must not leave its file behind.
        if snapshot is not None and snapshot.image.name:
            snapshot.image.storage.delete(snapshot.image.name)
        raise
    return snapshot


# --- Findings, completion and addenda --------------------------------------------------------


def findings_context(assessment: Assessment) -> Context:
    return Context(
        sex=assessment.client.sex,
        thresholds=thresholds_with(settings.ASSESSMENT_THRESHOLDS),
    )


def findings_preview(assessment: Assessment) -> list:
    """What completing the assessment now would find (nothing is stored)."""
    return findings_so_far(assessment).findings


@dataclass(frozen=True)
class FindingsSoFar:
    """The findings of the values stored now, as the panel shows them before completion."""

    findings: list[findings.Finding]
    # The sum of the values' versions: every save adds one, so it orders the findings of one
    # assessment in time, and a page drops a push older than what it shows (pushes computed
    # after two saves' commits may arrive in either order).
    revision: int

    def as_frame(self) -> dict[str, Any]:
        return {"revision": self.revision, "html": findings_html(self.findings)}


def findings_so_far(assessment: Assessment) -> FindingsSoFar:
    """Derived with the same rules as completion (one query)."""
    rows = assessment_values(assessment)
    values = {address: row.value for address, row in rows.items()}
    return FindingsSoFar(
        findings=findings_derive(values, context=findings_context(assessment)),
        revision=sum(row.version for row in rows.values()),
    )


def findings_html(found: list[findings.Finding]) -> str:
    """The panel's "Findings so far" list: the template the page itself renders, so that a
    finding reads the same whether it came with the page or over the socket."""
    return render_to_string("assessments/_findings_so_far.html", {"findings": found})


def _findings_push(assessment: Assessment) -> None:
    """After a save commits: the findings now, to every window open on the assessment."""
    frame = findings_so_far(assessment).as_frame()
    async_to_sync(get_channel_layer().group_send)(
        assessment_group(assessment), {"type": "assessment.findings", **frame}
    )


def finding_row(assessment: Assessment, finding: findings.Finding, position: int) -> Finding:
    """A derived finding as the assessment stores it (not saved)."""
    return Finding(
        assessment=assessment,
        key=finding.key,
        protocol=finding.protocol,
        side=finding.side,
        title=finding.title,
        detail=finding.detail,
        targets=[str(target) for target in finding.targets],
        sources=[source.as_dict() for source in finding.sources],
        threshold=finding.threshold,
        threshold_value=finding.threshold_value,
        position=position,
    )


def _findings_store(assessment: Assessment) -> list[Finding]:
    assessment.findings.all().delete()
    return Finding.objects.bulk_create(
        finding_row(assessment, finding, position)
        for position, finding in enumerate(findings_preview(assessment))
    )


def assessment_complete(
    *, assessment: Assessment, actor: User, context: RequestContext, now: dt.datetime
) -> Assessment:
    """Lock the assessment, store its findings and ask for a follow-up plan (after commit).

    Completing twice changes nothing.
    """
    with transaction.atomic():
        assessment = _locked(assessment.pk)
        _check_writer(assessment, actor)
        if assessment.is_locked:
            return assessment
        if not assessment.values.exclude(value=None).exists():
            raise AssessmentError("Record at least one result before completing the assessment.")
        _findings_store(assessment)
        assessment.status = AssessmentStatus.COMPLETED
        assessment.completed_at = now
        assessment.completed_by = actor
        assessment.current_protocol = ""
        assessment.save(
            update_fields=["status", "completed_at", "completed_by", "current_protocol"]
        )
        if assessment.appointment_id:
            room_prompt_set(appointment_id=assessment.appointment_id, prompt={})
        audit_record_of(
            assessment,
            "assessment",
            actor=actor,
            action=AuditAction.UPDATED,
            context=context,
            changes=["status"],
        )
        send_after_commit(assessment_group(assessment), {"type": "assessment.locked"})
        queue_after_commit("assessments.tasks.plan_generate", assessment.pk)
    return assessment


def addendum_add(
    *,
    assessment: Assessment,
    actor: User,
    body: str,
    context: RequestContext,
    now: dt.datetime,
    key: str = "",
    raw: Any = None,
) -> Addendum:
    """A note after completion, optionally correcting one value (the findings follow it)."""
    body = body.strip()
    if not body:
        raise AssessmentError("Say what the addendum is about.")
    address = address_parse(key) if key else None
    value = value_clean(address, raw) if address else None
    with transaction.atomic():
        assessment = _locked(assessment.pk)
        if assessment.clinician.user_id != actor.pk:
            raise AssessmentError("Only the clinician who ran the assessment can add addenda.")
        if not assessment.is_locked:
            raise AssessmentError("The assessment is still open: change the values directly.")
        addendum = Addendum(assessment=assessment, author=actor, created_at=now, body=body)
        changes = ["addendum"]
        if address is not None:
            row = _row(assessment, address)
            previous = row.value if row else None
            if previous == value:
                raise AssessmentError("The corrected value is the same as the recorded one.")
            if row is None:
                row = _new_row(assessment, address)
            row.version += 1
            row.value = value
            row.source = ValueSource.MANUAL
            row.measurement = {}
            row.updated_at = now
            row.updated_by = actor
            row.save()
            addendum.protocol, addendum.side = address.protocol, address.side
            addendum.trial, addendum.field = address.trial, address.field
            addendum.previous_value, addendum.corrected_value = previous, value
            changes.append(address.key)
            _findings_store(assessment)
        addendum.save()
        audit_record_of(
            assessment,
            "assessment",
            actor=actor,
            action=AuditAction.UPDATED,
            context=context,
            changes=changes,
        )
    return addendum
