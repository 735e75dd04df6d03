from django.urls import path

from sessions.booking.views import appointments, availability, booking, manage
from sessions.room import views as room

app_name = "sessions"

urlpatterns = [
    path("book/", booking.services, name="services"),
    path("book/<uuid:service_uuid>/", booking.clinicians, name="book_clinicians"),
    path("book/<uuid:service_uuid>/with/<str:who>/", booking.slots, name="book_slots"),
    path("book/<uuid:service_uuid>/details/", booking.details, name="book_details"),
    path("book/done/<uuid:appointment_uuid>/", booking.confirmed, name="book_confirmed"),
    path("appointments/manage/<str:token>/", manage.manage, name="manage"),
    path(
        "appointments/manage/<str:token>/reschedule/", manage.reschedule, name="manage_reschedule"
    ),
    path("appointments/manage/<str:token>/cancel/", manage.cancel, name="manage_cancel"),
    path("check-devices/", room.device_check, name="device_check"),
    path("appointments/<uuid:appointment_uuid>/join/", room.join, name="join"),
    path("appointments/<uuid:appointment_uuid>/room/admit/", room.admit, name="room_admit"),
    path("clinic/availability/", availability.availability, name="availability"),
    path("clinic/availability/hours/", availability.hours_add, name="availability_hours_add"),
    path(
        "clinic/availability/<str:kind>/add/",
        availability.period_add_view,
        name="availability_period_add",
    ),
    path(
        "clinic/availability/<str:kind>/<uuid:item_uuid>/remove/",
        availability.remove,
        name="availability_remove",
    ),
    path(
        "appointments/<uuid:appointment_uuid>/calendar.ics",
        appointments.calendar_file,
        name="calendar_file",
    ),
]
