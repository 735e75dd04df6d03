from django.urls import path

from dashboard.views import client, clinician

app_name = "dashboard"

urlpatterns = [
    path("clinic/", clinician.home, name="clinician_home"),
    path("clinic/clients/", clinician.clients, name="clients"),
    path("clinic/plans/", clinician.plans_waiting, name="plans_waiting"),
    path("clinic/clients/<uuid:client_uuid>/", clinician.client_record_page, name="client_record"),
    path("clinic/clients/<uuid:client_uuid>/notes/", clinician.note_add, name="note_add"),
    path(
        "clinic/clients/<uuid:client_uuid>/sessions/<uuid:appointment_uuid>/room-events/",
        clinician.room_events,
        name="room_events",
    ),
    path(
        "clinic/clients/<uuid:client_uuid>/red-flag/clear/",
        clinician.red_flag_clear,
        name="red_flag_clear",
    ),
    path("me/", client.my_care, name="my_care"),
    path("me/profile/", client.my_profile, name="my_profile"),
]
