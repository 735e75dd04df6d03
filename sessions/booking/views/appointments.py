"""Pages about one appointment for its signed-in participants."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from sessions.booking.calendar import appointment_ics
from sessions.booking.selectors import appointment_get_for_viewer
from sessions.models import AppointmentStatus


@require_GET
@login_required
def calendar_file(request: HttpRequest, appointment_uuid: UUID) -> HttpResponse:
    appointment = appointment_get_for_viewer(viewer=request.user, appointment_uuid=appointment_uuid)
    method = "CANCEL" if appointment.status == AppointmentStatus.CANCELLED else "REQUEST"
    response = HttpResponse(
        appointment_ics(appointment, method=method), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="appointment.ics"'
    return response
