"""The live session: device check, waiting room and the call.

- services.py: the room's rules (who may join and when, admission, seats, chat, ending, the
  prompt the clinician shows), called by the socket and the pages alike.
- signaling.py: the frames of the room's socket and their checks.
- consumers.py: the room's socket and the clinician's live feed; routing.py their URLs.
- media_peer.py: the server's receive-only WebRTC peer (camera measurement).
- views.py: the room page, admitting the client, the device check.

Built on booking (sessions.booking: appointments and who sees them), which does not import it
(.importlinter).
"""
