"""The client's program page, the one-click links of the emails, and reminder settings."""

import datetime as dt
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assessments.forms import PainForm, ReminderTimeForm
from assessments.models import LogSource, Plan
from assessments.programs.links import (
    LinkError,
    done_link_read,
    pain_link_read,
    reminders_link_read,
)
from assessments.programs.reminders import (
    preference_for,
    reminder_time_set,
    reminders_restart,
    reminders_stop,
)
from assessments.programs.services import (
    PlanError,
    client_today,
    pain_record,
    plan_adherence,
    plan_phase_on,
    plan_schedule,
    practice_mark,
)
from assessments.selectors import (
    plan_current_for_client,
    plan_for_link,
    plan_item_for_link,
    plan_item_of,
    program_day_logs,
)
from clinic.models import Client
from clinic.permissions import client_required
from clinic.selectors import client_by_uuid, client_for_user


def _program_context(plan: Plan, *, now: dt.datetime) -> dict:
    today = client_today(plan, now)
    schedule = plan_schedule(plan)
    scheduled = schedule.get(today)
    done_today, pain_today = program_day_logs(plan, today)
    phase = plan_phase_on(plan, today)
    upcoming = sorted(day for day in schedule if day > today)
    return {
        "plan": plan,
        "today": today,
        "phase": phase,
        "items_today": scheduled.items if scheduled else [],
        "done_today": done_today,
        "next_day": upcoming[0] if upcoming else None,
        "started": plan.starts_on is not None and today >= plan.starts_on,
        "pain_today": pain_today,
        "pain_form": PainForm(),
        "adherence": plan_adherence(plan, today=today),
        "phases": list(plan.phases.prefetch_related("items__exercise")),
    }


@require_GET
@client_required
def program(request: HttpRequest) -> HttpResponse:
    client = client_for_user(request.user)
    plan = plan_current_for_client(client)
    if plan is None:
        return render(request, "assessments/program_none.html", {"client": client})
    return render(request, "assessments/program.html", _program_context(plan, now=timezone.now()))


def _own_plan(request: HttpRequest, plan_uuid: UUID) -> Plan:
    client = client_for_user(request.user)
    plan = plan_current_for_client(client)
    if plan is None or plan.uuid != plan_uuid:
        raise Http404("No such program")
    return plan


@require_POST
@client_required
def done(request: HttpRequest, plan_uuid: UUID) -> HttpResponse:
    plan = _own_plan(request, plan_uuid)
    now = timezone.now()
    item_uuid = request.POST.get("item", "")
    item = plan_item_of(plan, item_uuid)
    if item is None:
        messages.error(request, "That exercise is not part of your program.")
        return redirect("assessments:program")
    try:
        practice_mark(
            plan=plan,
            item=item,
            day=client_today(plan, now),
            done=request.POST.get("done") == "1",
            source=LogSource.PAGE,
            now=now,
        )
    except PlanError as error:
        messages.error(request, error.message)
    return redirect("assessments:program")


@require_POST
@client_required
def pain(request: HttpRequest, plan_uuid: UUID) -> HttpResponse:
    plan = _own_plan(request, plan_uuid)
    now = timezone.now()
    form = PainForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a number from 0 to 10.")
        return redirect("assessments:program")
    try:
        pain_record(
            plan=plan,
            day=client_today(plan, now),
            score=form.cleaned_data["score"],
            source=LogSource.PAGE,
            now=now,
        )
    except PlanError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Pain today: {form.cleaned_data['score']} of 10. Thank you.")
    return redirect("assessments:program")


# --- One-click links in emails ------------------------------------------------------------------


def _link_problem(request: HttpRequest, error: LinkError) -> HttpResponse:
    return render(
        request,
        "assessments/link_problem.html",
        {"message": error.message},
        status=410 if error.expired else 400,
    )


@require_http_methods(["GET", "POST"])
def pain_link(request: HttpRequest, token: str) -> HttpResponse:
    """From the score buttons of an email. Opening the link shows a page that records the
    score by itself (a form the page's script submits); link checkers of mail services, which
    fetch links without running scripts, record nothing."""
    try:
        link = pain_link_read(token)
    except LinkError as error:
        return _link_problem(request, error)
    plan = plan_for_link(link.plan)
    if plan is None:
        return _link_problem(request, LinkError("This program no longer exists."))
    context = {"plan": plan, "score": link.score, "day": link.day}
    if request.method == "GET":
        return render(request, "assessments/link_confirm_pain.html", context)
    try:
        _, changed = pain_record(
            plan=plan, day=link.day, score=link.score, source=LogSource.EMAIL, now=timezone.now()
        )
    except PlanError as error:
        return _link_problem(request, LinkError(error.message))
    return render(
        request, "assessments/link_done.html", {**context, "kind": "pain", "changed": changed}
    )


@require_http_methods(["GET", "POST"])
def done_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = done_link_read(token)
    except LinkError as error:
        return _link_problem(request, error)
    item = plan_item_for_link(plan_uuid=link.plan, item_uuid=link.item)
    if item is None:
        return _link_problem(request, LinkError("This exercise is no longer in your program."))
    plan = item.phase.plan
    context = {"plan": plan, "item": item, "day": link.day}
    if request.method == "GET":
        return render(request, "assessments/link_confirm_done.html", context)
    try:
        logged = practice_mark(
            plan=plan,
            item=item,
            day=link.day,
            done=True,
            source=LogSource.EMAIL,
            now=timezone.now(),
        )
    except PlanError as error:
        return _link_problem(request, LinkError(error.message))
    return render(
        request,
        "assessments/link_done.html",
        {**context, "kind": "done", "changed": logged.created},
    )


# --- Reminder settings ------------------------------------------------------------------------


def _client_from_link(token: str) -> Client:
    client_uuid = reminders_link_read(token)
    client = client_by_uuid(client_uuid)
    if client is None:
        raise LinkError("This link is not valid. Check that it was copied in full.")
    return client


@require_http_methods(["GET", "POST"])
def reminder_settings(request: HttpRequest, token: str) -> HttpResponse:
    try:
        client = _client_from_link(token)
    except LinkError as error:
        return _link_problem(request, error)
    preference = preference_for(client)
    form = ReminderTimeForm(initial={"local_time": preference.local_time})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        now = timezone.now()
        if action == "stop":
            reminders_stop(client=client, now=now)
            messages.success(request, "Reminders stopped. You will get no more reminders.")
            return redirect("assessments:reminder_settings", token=token)
        if action == "start":
            reminders_restart(client=client, now=now)
            messages.success(request, "Reminders are on again.")
            return redirect("assessments:reminder_settings", token=token)
        form = ReminderTimeForm(request.POST)
        if form.is_valid():
            reminder_time_set(client=client, local_time=form.cleaned_data["local_time"], now=now)
            messages.success(
                request,
                f"Reminders will come at {form.cleaned_data['local_time']:%H:%M} "
                f"({client.time_zone}).",
            )
            return redirect("assessments:reminder_settings", token=token)
        status = 400
    return render(
        request,
        "assessments/reminder_settings.html",
        {"client": client, "preference": preference, "form": form, "token": token},
        status=status,
    )


@csrf_exempt  # Mail services POST here without a page (RFC 8058); the signed token is the key.
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The List-Unsubscribe address: a POST stops every reminder at once; doing it again
    changes nothing. A GET (someone opening it in a browser) asks first."""
    try:
        client = _client_from_link(token)
    except LinkError as error:
        return _link_problem(request, error)
    if request.method == "GET":
        return render(request, "assessments/unsubscribe.html", {"client": client, "token": token})
    reminders_stop(client=client, now=timezone.now())
    return render(request, "assessments/unsubscribed.html", {"client": client, "token": token})
