from django.urls import path

from sessions.room.consumers import ClinicianFeedConsumer, RoomConsumer

websocket_urlpatterns = [
    path("ws/appointments/<uuid:appointment_uuid>/room/", RoomConsumer.as_asgi()),
    path("ws/clinic/feed/", ClinicianFeedConsumer.as_asgi()),
]
