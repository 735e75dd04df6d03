"""The client's own pages: their record and appointments."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from assessments.programs.reminders import client_profile_save
from assessments.selectors import assessments_visible_to, plan_current_for_client
from clinic.audit import RequestContext
from clinic.forms import ClientProfileForm
from clinic.permissions import client_required
from clinic.selectors import client_for_user
from clinic.services import client_record_viewed
from dashboard.selectors import appointment_is_upcoming, client_record
from sessions.booking.links import manage_url
from sessions.booking.services import client_may_change


@require_GET
@client_required
def my_care(request: HttpRequest) -> HttpResponse:
    client = client_for_user(request.user)
    client_record_viewed(
        client=client, viewer=request.user, context=RequestContext.from_request(request)
    )
    record = client_record(client, with_notes=False)
    now = timezone.now()
    upcoming = [
        {
            "appointment": appointment,
            "manage_url": manage_url(appointment),
            "may_change": client_may_change(appointment, now=now),
        }
        for appointment in reversed(record.appointments)
        if appointment_is_upcoming(appointment, now=now)
    ]
    past = [a for a in record.appointments if not appointment_is_upcoming(a, now=now)]
    return render(
        request,
        "dashboard/my_care.html",
        {
            "record": record,
            "upcoming": upcoming,
            "past": past,
            "program": plan_current_for_client(client),
            "assessments": list(assessments_visible_to(request.user).order_by("-completed_at")),
        },
    )


@require_http_methods(["GET", "POST"])
@client_required
def my_profile(request: HttpRequest) -> HttpResponse:
    client = client_for_user(request.user)
    if request.method == "POST":
        form = ClientProfileForm(request.POST)
        if form.is_valid():
            reminder_time = client_profile_save(
                client=client,
                actor=request.user,
                context=RequestContext.from_request(request),
                data=form.cleaned_data,
                now=timezone.now(),
            )
            messages.success(request, "Your details are saved.")
            if reminder_time is not None:
                messages.info(
                    request,
                    f"Your reminders now come at {reminder_time:%H:%M} ({client.time_zone}).",
                )
            return redirect("dashboard:my_care")
        return render(request, "dashboard/my_profile.html", {"form": form}, status=400)
    client_record_viewed(
        client=client, viewer=request.user, context=RequestContext.from_request(request)
    )
    return render(
        request,
        "dashboard/my_profile.html",
        {"form": ClientProfileForm(initial=ClientProfileForm.initial_for(client))},
    )
