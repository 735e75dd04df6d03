from django.urls import path

from sessions.views import appointments, booking, manage

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
    path("appointments/<uuid:appointment_uuid>/join/", appointments.join, name="join"),
    path(
        "appointments/<uuid:appointment_uuid>/calendar.ics",
        appointments.calendar_file,
        name="calendar_file",
    ),
]
