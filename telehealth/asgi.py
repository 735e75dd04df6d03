"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")

# Django must be set up before anything imports models, so this comes first.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from assessments.media_worker import MediaWorkerConsumer  # noqa: E402
from assessments.pose.model import pose_library_import  # noqa: E402
from telehealth.routing import websocket_urlpatterns  # noqa: E402
from telehealth.unavailable import RequestQueue  # noqa: E402
from telehealth.websocket_server import websocket_errors_close_with_a_code  # noqa: E402

# A browser breaking the WebSocket protocol hears why (1007, 1009), not a dropped connection.
websocket_errors_close_with_a_code()

application = ProtocolTypeRouter(
    {
        # Requests beyond what the database pool can serve wait their turn here.
        "http": RequestQueue(
            django_asgi_app,
            at_once=settings.HTTP_REQUESTS_AT_ONCE,
            timeout=settings.HTTP_QUEUE_TIMEOUT_SECONDS,
            exempt=("/healthz", f"/{settings.STATIC_URL.lstrip('/')}"),
        ),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        # `manage.py runworker media`: the media worker in a process of its own.
        "channel": ChannelNameRouter({"media": MediaWorkerConsumer.as_asgi()}),
    }
)

# A process serving this application analyses video (the inline media worker of a web
# process, `manage.py runworker media`, whose consumer only starts with the first offer) or
# at least checks that it can: the pose library is imported now, in the background, not
# during the first measurement. Other manage.py commands never load this module.
pose_library_import()
