"""Bounds of a service that other parts of the server are sized by.

Plain numbers without models, so that the settings can import them too (the channel layer
keeps a room's group as long as the longest room can be open).
"""

MAX_DURATION_MINUTES = 480
MAX_BUFFER_MINUTES = 240
