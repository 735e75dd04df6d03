"""The clinician's pages: upcoming sessions, their clients, a client's record."""

import zoneinfo
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from clinic.audit import RequestContext
from clinic.forms import ClinicianNoteForm
from clinic.models import Role
from clinic.permissions import clinician_required
from clinic.services import client_record_viewed, client_red_flag_clear, clinician_note_add
from dashboard.charts import MAX_ASSESSMENTS, adherence_chart, progress_charts
from dashboard.selectors import (
    CLIENT_SORTS,
    client_record_for_clinician,
    clients_search,
    clinician_overview,
    plans_waiting_for,
    session_room_events,
)
from sessions.booking.selectors import client_get_for_viewer

CLIENTS_PER_PAGE = 25
SORT_LABELS = {"name": "Name", "next": "Next appointment", "last": "Last appointment"}


@require_GET
@clinician_required
def home(request: HttpRequest) -> HttpResponse:
    overview = clinician_overview(
        viewer=request.user,
        now=timezone.now(),
        zone=zoneinfo.ZoneInfo(request.viewer_time_zone),
    )
    return render(request, "dashboard/clinician_home.html", {"overview": overview})


@require_GET
@clinician_required
def clients(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    sort = request.GET.get("sort", "name")
    if sort not in CLIENT_SORTS:
        sort = "name"
    page = Paginator(
        clients_search(viewer=request.user, query=query, sort=sort, now=timezone.now()),
        CLIENTS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/clients.html",
        {"page": page, "query": query, "sort": sort, "sorts": SORT_LABELS},
    )


@require_GET
@clinician_required
def plans_waiting(request: HttpRequest) -> HttpResponse:
    page = Paginator(plans_waiting_for(request.user), CLIENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request, "dashboard/plans_waiting.html", {"plans": page.object_list, "page": page}
    )


def _record_page(
    request: HttpRequest,
    client_uuid: UUID,
    *,
    note_form: ClinicianNoteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    client = client_get_for_viewer(viewer=request.user, client_uuid=client_uuid)
    client_record_viewed(
        client=client, viewer=request.user, context=RequestContext.from_request(request)
    )
    record = client_record_for_clinician(client, now=timezone.now())
    return render(
        request,
        "dashboard/client_record.html",
        {
            "record": record,
            "note_form": note_form or ClinicianNoteForm(),
            "progress": progress_charts(
                record.assessments, record.readings, everything=request.GET.get("all") == "1"
            ),
            "chart_limit": MAX_ASSESSMENTS,
            "adherence_chart": adherence_chart(record.adherence),
            "is_clinician": request.user.role == Role.CLINICIAN,
        },
        status=status,
    )


@require_GET
@clinician_required
def client_record_page(request: HttpRequest, client_uuid: UUID) -> HttpResponse:
    return _record_page(request, client_uuid)


@require_GET
@clinician_required
@vary_on_headers("HX-Request")
def room_events(request: HttpRequest, client_uuid: UUID, appointment_uuid: UUID) -> HttpResponse:
    """One session's room events: the list alone for htmx (opening a row of the client's
    page), a page of its own without script."""
    session = session_room_events(
        viewer=request.user, client_uuid=client_uuid, appointment_uuid=appointment_uuid
    )
    client_record_viewed(
        client=session.client, viewer=request.user, context=RequestContext.from_request(request)
    )
    template = (
        "dashboard/_room_events.html"
        if request.headers.get("HX-Request") == "true"
        else "dashboard/room_events.html"
    )
    return render(request, template, {"session": session})


@require_POST
@clinician_required
def note_add(request: HttpRequest, client_uuid: UUID) -> HttpResponse:
    client = client_get_for_viewer(viewer=request.user, client_uuid=client_uuid)
    form = ClinicianNoteForm(request.POST)
    if not form.is_valid():
        return _record_page(request, client_uuid, note_form=form, status=400)
    clinician_note_add(
        client=client,
        author=request.user,
        body=form.cleaned_data["body"],
        context=RequestContext.from_request(request),
    )
    messages.success(request, "Note saved.")
    return redirect("dashboard:client_record", client_uuid=client.uuid)


@require_POST
@clinician_required
def red_flag_clear(request: HttpRequest, client_uuid: UUID) -> HttpResponse:
    client = client_get_for_viewer(viewer=request.user, client_uuid=client_uuid)
    client_red_flag_clear(
        client=client, actor=request.user, context=RequestContext.from_request(request)
    )
    messages.success(request, "Red flag marked as reviewed.")
    return redirect("dashboard:client_record", client_uuid=client.uuid)
