"""The clinician's review of a proposed plan: reorder, swap, dose, note, approve."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assessments.findings import TARGET_LABELS
from assessments.forms import DoseForm, PlanNoteForm
from assessments.models import PlanItem
from assessments.programs.approval import plan_approve
from assessments.programs.services import (
    PlanError,
    plan_empty_phases,
    plan_has_unsent_changes,
    plan_item_dose,
    plan_item_move,
    plan_item_remove,
    plan_item_swap,
    plan_note_set,
    swap_choices,
)
from assessments.selectors import (
    exercise_by_uuid,
    plan_for_review,
    plan_get_for_viewer,
    plan_get_for_writer,
    plan_item_get_for_writer,
)
from clinic.audit import RequestContext
from clinic.permissions import clinician_required


def _review_url(plan_uuid: UUID, anchor: str = "") -> str:
    url = reverse("assessments:plan", args=[plan_uuid])
    return f"{url}#{anchor}" if anchor else url


@require_GET
@clinician_required
def plan_page(request: HttpRequest, plan_uuid: UUID) -> HttpResponse:
    plan = plan_get_for_viewer(viewer=request.user, plan_uuid=plan_uuid)
    review = plan_for_review(plan)
    # A superseded draft is kept as it was: nobody changes it any more.
    is_writer = plan.clinician.user_id == request.user.pk and not plan.is_superseded
    return render(
        request,
        "assessments/plan.html",
        {
            "plan": plan,
            "review": review,
            "is_writer": is_writer,
            "unsent_changes": plan_has_unsent_changes(plan),
            "note_form": PlanNoteForm(initial={"note": plan.note}),
            "swap_choices": {
                item.pk: swap_choices(item) for item in review.items if not item.is_removed
            }
            if is_writer
            else {},
            "targets": TARGET_LABELS,
        },
    )


def _item(request: HttpRequest, plan_uuid: UUID, item_uuid: UUID) -> PlanItem:
    return plan_item_get_for_writer(writer=request.user, plan_uuid=plan_uuid, item_uuid=item_uuid)


@require_POST
@clinician_required
def item_move(request: HttpRequest, plan_uuid: UUID, item_uuid: UUID) -> HttpResponse:
    item = _item(request, plan_uuid, item_uuid)
    try:
        plan_item_move(
            item=item,
            actor=request.user,
            up=request.POST.get("direction") == "up",
            context=RequestContext.from_request(request),
        )
    except PlanError as error:
        messages.error(request, error.message)
    return redirect(_review_url(plan_uuid, f"item-{item.uuid}"))


@require_POST
@clinician_required
def item_swap(request: HttpRequest, plan_uuid: UUID, item_uuid: UUID) -> HttpResponse:
    item = _item(request, plan_uuid, item_uuid)
    exercise = exercise_by_uuid(request.POST.get("exercise", ""))
    if exercise is None:
        messages.error(request, "Choose an exercise from the list.")
        return redirect(_review_url(plan_uuid, f"item-{item.uuid}"))
    try:
        item = plan_item_swap(
            item=item,
            exercise=exercise,
            actor=request.user,
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except PlanError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Swapped in {exercise.name}.")
    return redirect(_review_url(plan_uuid, f"item-{item.uuid}"))


@require_POST
@clinician_required
def item_dose(request: HttpRequest, plan_uuid: UUID, item_uuid: UUID) -> HttpResponse:
    item = _item(request, plan_uuid, item_uuid)
    form = DoseForm(request.POST)
    if form.is_valid():
        try:
            plan_item_dose(
                item=item,
                sets=form.cleaned_data["sets"],
                amount=form.cleaned_data["amount"],
                actor=request.user,
                context=RequestContext.from_request(request),
            )
        except PlanError as error:
            messages.error(request, f"{item.exercise.name}: {error.message}")
        else:
            messages.success(request, f"{item.exercise.name}: dose changed.")
    else:
        messages.error(request, f"{item.exercise.name}: enter whole numbers for the dose.")
    return redirect(_review_url(plan_uuid, f"item-{item.uuid}"))


@require_POST
@clinician_required
def item_remove(request: HttpRequest, plan_uuid: UUID, item_uuid: UUID) -> HttpResponse:
    item = _item(request, plan_uuid, item_uuid)
    try:
        plan_item_remove(
            item=item,
            actor=request.user,
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except PlanError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Removed {item.exercise.name}.")
    return redirect(_review_url(plan_uuid))


@require_POST
@clinician_required
def note(request: HttpRequest, plan_uuid: UUID) -> HttpResponse:
    plan = plan_get_for_writer(writer=request.user, plan_uuid=plan_uuid)
    form = PlanNoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The note is too long (2,000 characters at most).")
        return redirect(_review_url(plan_uuid, "note"))
    try:
        plan_note_set(
            plan=plan,
            note=form.cleaned_data["note"],
            actor=request.user,
            context=RequestContext.from_request(request),
        )
    except PlanError as error:
        messages.error(request, error.message)
        return redirect(_review_url(plan_uuid))
    messages.success(request, "Note saved.")
    return redirect(_review_url(plan_uuid, "note"))


@require_http_methods(["GET", "POST"])
@clinician_required
def approve(request: HttpRequest, plan_uuid: UUID) -> HttpResponse:
    """GET: what approving does, to confirm (it emails the client and starts the program);
    POST: approve, or send the changes made since."""
    plan = plan_get_for_writer(writer=request.user, plan_uuid=plan_uuid)
    first = not plan.is_approved
    if request.method == "GET":
        if plan.is_superseded or (not first and not plan_has_unsent_changes(plan)):
            messages.info(request, "There is nothing to send.")
            return redirect(_review_url(plan_uuid))
        return render(
            request,
            "assessments/plan_approve_confirm.html",
            {"plan": plan, "first": first, "empty_phases": plan_empty_phases(plan)},
        )
    try:
        plan = plan_approve(
            plan=plan,
            actor=request.user,
            context=RequestContext.from_request(request),
            now=timezone.now(),
        )
    except PlanError as error:
        messages.error(request, error.message)
        return redirect(_review_url(plan_uuid))
    messages.success(
        request,
        f"Approved: {plan.client.name} gets the program by email; it starts "
        f"{plan.starts_on:%A %-d %B}."
        if first
        else f"The updated program is on its way to {plan.client.name}.",
    )
    for phase in plan_empty_phases(plan):
        messages.warning(
            request,
            f"Phase {phase.number} ({phase.get_kind_display()}) has no exercises: no reminders "
            f"in weeks {phase.first_week}–{phase.last_week}.",
        )
    return redirect(_review_url(plan_uuid))
