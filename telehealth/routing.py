"""WebSocket routes of every app."""

from sessions.routing import websocket_urlpatterns as sessions_routes

websocket_urlpatterns = [*sessions_routes]
