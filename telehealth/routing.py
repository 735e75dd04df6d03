"""WebSocket routes of every app."""

from assessments.routing import websocket_urlpatterns as assessments_routes
from sessions.room.routing import websocket_urlpatterns as sessions_routes

websocket_urlpatterns = [*sessions_routes, *assessments_routes]
