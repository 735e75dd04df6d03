"""How daphne (through autobahn) ends a connection whose browser broke the WebSocket protocol.

autobahn's default (``failByDrop``) is to drop the TCP connection without a close frame,
so a text frame that is not UTF-8, or a message over ``--websocket_max_message_size``,
reached the page as 1006 ("abnormal closure"), indistinguishable from a network failure.
With failByDrop off it sends the close frame the protocol names (1007 invalid payload,
1009 message too big, 1002 protocol error) and then closes; the page reconnects as for
any close it does not know (docs/live-sessions.md).

daphne has no option for this, so its factory is adjusted when the application is loaded,
which daphne (and runserver) do before they build it.
"""

from typing import Any


def websocket_errors_close_with_a_code() -> None:
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # served by another ASGI server: nothing of daphne's to adjust
        return
    if getattr(WebSocketFactory, "_closes_with_a_code", False):
        return
    built = WebSocketFactory.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        built(self, *args, **kwargs)
        # daphne's own setProtocolOptions() afterwards sets other options only.
        self.setProtocolOptions(failByDrop=False)

    WebSocketFactory.__init__ = __init__
    WebSocketFactory._closes_with_a_code = True
