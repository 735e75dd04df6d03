"""Assessment pages: the clinician's panel (in the room or on its own page), results for the
client, snapshots, completion and addenda."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from assessments.findings import Target, finding_in_plain_words, scoring_text
from assessments.forms import AddendumForm, addendum_choices
from assessments.models import Assessment
from assessments.pose.model import vision_unavailable
from assessments.protocols import PROTOCOLS, TELEHEALTH_CAVEAT, ValueRefused
from assessments.selectors import (
    Cell,
    assessment_get_for_viewer,
    assessment_get_for_writer,
    assessment_of_appointment,
    assessment_steps,
    snapshot_get_for_viewer,
)
from assessments.services import (
    SNAPSHOT_MAX_BYTES,
    AssessmentError,
    addendum_add,
    assessment_complete,
    assessment_start_for_appointment,
    assessment_start_in_person,
    assessment_value_save,
    assessment_viewed,
    findings_context,
    findings_so_far,
    images_consent,
    snapshot_add,
)
from clinic.audit import RequestContext
from clinic.models import Role
from clinic.permissions import clinician_required
from clinic.selectors import clinician_for_user
from sessions.booking.selectors import appointment_get_for_viewer, client_get_for_viewer


def _completed_panel(request: HttpRequest, assessment: Assessment) -> HttpResponse:
    """The panel of a completed assessment in the call: its findings, and the results a link
    away."""
    return render(
        request,
        "assessments/_completed.html",
        {
            "assessment": assessment,
            "findings": list(assessment.findings.all()),
            "caveat": TELEHEALTH_CAVEAT,
        },
    )


def _panel_context(request: HttpRequest, assessment: Assessment, *, in_room: bool = False) -> dict:
    thresholds = findings_context(assessment).thresholds
    so_far = findings_so_far(assessment)
    return {
        "assessment": assessment,
        "steps": assessment_steps(assessment),
        # How to score each test, with the thresholds as configured.
        "scoring": {key: scoring_text(p, thresholds) for key, p in PROTOCOLS.items()},
        "caveat": TELEHEALTH_CAVEAT,
        "images_allowed": images_consent(assessment.client) is not None,
        "findings": so_far.findings,
        # Pushed findings older than this are dropped by the page (see findings_so_far).
        "findings_revision": so_far.revision,
        # Measuring from the camera needs the call.
        "in_room": in_room,
        # Why the camera cannot be used here (not installed, switched off), or None.
        "vision_unavailable": vision_unavailable(),
    }


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@require_POST
@clinician_required
def start_for_appointment(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    appointment = appointment_get_for_viewer(viewer=request.user, appointment_uuid=appointment_uuid)
    try:
        assessment = assessment_start_for_appointment(
            appointment=appointment,
            actor=request.user,
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except AssessmentError as error:
        raise PermissionDenied(error.message) from None
    if _is_htmx(request):
        # In the room: the panel replaces the start button without leaving the call.
        return render(
            request, "assessments/_panel.html", _panel_context(request, assessment, in_room=True)
        )
    return redirect("assessments:detail", assessment_uuid=assessment.uuid)


@require_GET
@clinician_required
def panel_for_appointment(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    """The panel beside the video in the clinician's room (loaded by htmx)."""
    appointment = appointment_get_for_viewer(viewer=request.user, appointment_uuid=appointment_uuid)
    if appointment.clinician.user_id != request.user.pk:
        raise PermissionDenied("Only the appointment's clinician runs its assessment.")
    assessment = assessment_of_appointment(appointment)
    if assessment is None:
        return render(request, "assessments/_start.html", {"appointment": appointment})
    if assessment.is_locked:
        return _completed_panel(request, assessment)
    assessment_viewed(
        assessment=assessment, viewer=request.user, context=RequestContext.from_request(request)
    )
    return render(
        request, "assessments/_panel.html", _panel_context(request, assessment, in_room=True)
    )


@require_POST
@clinician_required
def start_in_person(request: HttpRequest, client_uuid: UUID) -> HttpResponse:
    client = client_get_for_viewer(viewer=request.user, client_uuid=client_uuid)
    clinician = clinician_for_user(request.user)
    if clinician is None:
        raise PermissionDenied("Only clinicians run assessments.")
    assessment = assessment_start_in_person(
        client=client,
        clinician=clinician,
        actor=request.user,
        context=RequestContext.from_request(request),
        now=timezone.now(),
    )
    return redirect("assessments:detail", assessment_uuid=assessment.uuid)


@require_GET
@login_required
def detail(request: HttpRequest, assessment_uuid: UUID) -> HttpResponse:
    assessment = assessment_get_for_viewer(viewer=request.user, assessment_uuid=assessment_uuid)
    assessment_viewed(
        assessment=assessment, viewer=request.user, context=RequestContext.from_request(request)
    )
    is_writer = assessment.clinician.user_id == request.user.pk
    if is_writer and not assessment.is_locked:
        return render(request, "assessments/record.html", _panel_context(request, assessment))
    return _results_page(request, assessment, is_writer=is_writer)


def _results_page(
    request: HttpRequest,
    assessment: Assessment,
    *,
    is_writer: bool,
    addendum_form: AddendumForm | None = None,
    status: int = 200,
) -> HttpResponse:
    for_client = request.user.role == Role.CLIENT
    steps = [step for step in assessment_steps(assessment) if step.recorded]
    addenda = list(assessment.addenda.select_related("author"))
    if for_client:
        addenda = [addendum for addendum in addenda if addendum.for_client]
    context = {
        "assessment": assessment,
        "steps": steps,
        # Clients read what each finding means in plain words; clinicians the clinical terms.
        "findings": [
            finding_in_plain_words(finding) if for_client else finding
            for finding in assessment.findings.all()
        ],
        "for_client": for_client,
        "is_writer": is_writer,
        "addenda": addenda,
        "snapshots": [] if for_client else list(assessment.snapshots.all()),
        "caveat": TELEHEALTH_CAVEAT,
        "targets": {target.value: target.label for target in Target},
    }
    if is_writer and assessment.is_locked:
        context["addendum_form"] = addendum_form or AddendumForm(
            choices=addendum_choices(assessment)
        )
    return render(request, "assessments/results.html", context, status=status)


@require_POST
@clinician_required
def step_save(request: HttpRequest, assessment_uuid: UUID, protocol: str) -> HttpResponse:
    """Without JavaScript the panel saves a whole step with one button."""
    assessment = assessment_get_for_writer(writer=request.user, assessment_uuid=assessment_uuid)
    if protocol not in PROTOCOLS:
        raise Http404("No such test")
    steps = {step.key: step for step in assessment_steps(assessment)}
    errors: dict[str, str] = {}
    labels: dict[str, str] = {}
    conflicts: list[str] = []
    context = RequestContext.from_request(request)
    now = timezone.now()
    for _, cells in steps[protocol].rows:
        for cell in cells:
            if cell.key not in request.POST or _untouched(request, cell):
                continue
            try:
                base = int(request.POST.get(f"base:{cell.key}", "0"))
                result = assessment_value_save(
                    assessment_id=assessment.pk,
                    actor=request.user,
                    key=cell.address,
                    raw=request.POST[cell.key],
                    base_version=base,
                    context=context,
                    now=now,
                )
            except ValueError:
                errors[cell.key] = "The page was out of date: reload it."
                continue
            except ValueRefused as error:
                errors[cell.key] = error.message
                labels[cell.key] = cell.label
                continue
            except AssessmentError as error:
                messages.error(request, error.message)
                return redirect("assessments:detail", assessment_uuid=assessment.uuid)
            if not result.saved:
                conflicts.append(f"{cell.label} (now {cell.field.display(result.value)})")
    if errors:
        page = _panel_context(request, assessment)
        page["errors"] = errors
        # The page's error summary (base.html): each refused value, linked to its field.
        page["field_errors"] = {
            f"f-{key}": f"{labels.get(key, key)}: {message}" for key, message in errors.items()
        }
        # A refused value stays in its field as typed, marked not saved.
        page["typed"] = {key: request.POST.get(key, "") for key in errors}
        page["open_step"] = protocol
        return render(request, "assessments/record.html", page, status=400)
    if conflicts:
        messages.error(
            request,
            "Changed meanwhile in another window, so not saved: " + "; ".join(conflicts) + ".",
        )
    else:
        messages.success(request, f"{PROTOCOLS[protocol].name} saved.")
    return redirect(f"{assessment_detail_url(assessment)}#step-{protocol}")


def _untouched(request: HttpRequest, cell: Cell) -> bool:
    """Whether the form sent a cell back as the page showed it, or as it is stored.

    The form posts every cell of the step. Saving an untouched one would mark a value measured
    from video as typed (and drop its measurement details), and would report a value another
    window changed meanwhile as a conflict the clinician never made.
    """
    posted = request.POST[cell.key].strip()
    shown = request.POST.get(f"was:{cell.key}")
    if shown is not None and posted == shown.strip():
        return True
    try:
        return cell.field.clean(posted) == cell.value
    except ValueRefused:
        return False


def assessment_detail_url(assessment: Assessment) -> str:
    return reverse("assessments:detail", args=[assessment.uuid])


@require_POST
@clinician_required
def snapshot_upload(request: HttpRequest, assessment_uuid: UUID) -> HttpResponse:
    assessment = assessment_get_for_writer(writer=request.user, assessment_uuid=assessment_uuid)
    upload = request.FILES.get("image")
    trial_text = request.POST.get("trial", "")
    if upload is None:
        return JsonResponse({"error": "No image was sent."}, status=400)
    if upload.size > SNAPSHOT_MAX_BYTES:
        return JsonResponse({"error": "The image is larger than 3 MB."}, status=400)
    try:
        trial = int(trial_text) if trial_text else None
        snapshot = snapshot_add(
            assessment=assessment,
            actor=request.user,
            protocol=request.POST.get("protocol", ""),
            side=request.POST.get("side", ""),
            trial=trial,
            data=upload.read(),
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except ValueError:
        return JsonResponse({"error": "The trial must be a number."}, status=400)
    except ValueRefused as error:
        return JsonResponse({"error": error.message}, status=400)
    except AssessmentError as error:
        return JsonResponse({"error": error.message}, status=409)
    return JsonResponse(
        {
            "snapshot": str(snapshot.uuid),
            "message": f"Snapshot kept with {PROTOCOLS[snapshot.protocol].name}.",
        },
        status=201,
    )


@require_GET
@clinician_required
def snapshot_image(
    request: HttpRequest, assessment_uuid: UUID, snapshot_uuid: UUID
) -> HttpResponse:
    snapshot = snapshot_get_for_viewer(
        viewer=request.user, assessment_uuid=assessment_uuid, snapshot_uuid=snapshot_uuid
    )
    response = FileResponse(snapshot.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@clinician_required
def complete(request: HttpRequest, assessment_uuid: UUID) -> HttpResponse:
    assessment = assessment_get_for_writer(writer=request.user, assessment_uuid=assessment_uuid)
    try:
        assessment = assessment_complete(
            assessment=assessment,
            actor=request.user,
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except AssessmentError as error:
        if _is_htmx(request):
            # htmx posts come from the panel in the room.
            page = _panel_context(request, assessment, in_room=True)
            page["complete_error"] = error.message
            return render(request, "assessments/_panel.html", page, status=409)
        messages.error(request, error.message)
        return redirect("assessments:detail", assessment_uuid=assessment.uuid)
    if _is_htmx(request):
        return _completed_panel(request, assessment)
    messages.success(request, "Assessment completed. A follow-up plan is being prepared.")
    return redirect("assessments:detail", assessment_uuid=assessment.uuid)


@require_POST
@clinician_required
def addendum(request: HttpRequest, assessment_uuid: UUID) -> HttpResponse:
    assessment = assessment_get_for_writer(writer=request.user, assessment_uuid=assessment_uuid)
    if not assessment.is_locked:
        messages.error(request, "The assessment is still open: change the values directly.")
        return render(
            request, "assessments/record.html", _panel_context(request, assessment), status=409
        )
    form = AddendumForm(request.POST, choices=addendum_choices(assessment))
    if form.is_valid():
        try:
            addendum_add(
                assessment=assessment,
                actor=request.user,
                body=form.cleaned_data["body"],
                key=form.cleaned_data["key"],
                raw=form.cleaned_data["value"],
                context=RequestContext.from_request(request),
                now=timezone.now(),
            )
        except ValueRefused as error:
            form.add_error("value", error.message)
        except AssessmentError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Addendum added.")
            return redirect("assessments:detail", assessment_uuid=assessment.uuid)
    return _results_page(request, assessment, is_writer=True, addendum_form=form, status=400)
