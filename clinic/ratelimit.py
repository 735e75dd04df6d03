"""Fixed-window attempt counters in the shared cache (Redis in production).

An attempt is counted before the work it limits, in one atomic step that also refuses it
when the window's attempts are used up: reading the counter, doing the work and counting
afterwards let twenty simultaneous wrong passwords all be checked against a limit of five.
"""

import hashlib
import threading

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

# Count this attempt and start the window with the first one; refuse (and take the count
# back) past the limit, so that only attempts let through are counted. TTL is checked rather
# than "count == 1" so that a counter left without an expiry can never lock anyone for good.
_TAKE = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""
# Give an attempt back; the last one gone deletes the window, as if it had never started.
# (DECR alone would recreate an expired key at -1 with no expiry.)
_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
"""

# Without Redis (the demo's in-memory cache) counters live in this process; the lock makes
# taking an attempt atomic among its threads.
_local_lock = threading.Lock()


def _key(scope: str, identity: str) -> str:
    # Hash the identity so that email addresses never sit in the cache as plain text.
    digest = hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}"


def attempt_take(scope: str, identity: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt, or return False (counting nothing) when ``limit`` attempts of the
    current window are counted already. However many callers take at the same moment, at most
    ``limit`` of them get True per window."""
    backend = caches["default"]
    key = _key(scope, identity)
    if isinstance(backend, RedisCache):
        # The cache's own key (prefix, version), so that deleting or clearing it resets us too.
        cache_key = backend.make_and_validate_key(key)
        # Django's RedisCache runs no scripts; its pool of connections (_cache) does.
        client = backend._cache.get_client(cache_key, write=True)
        return bool(client.eval(_TAKE, 1, cache_key, limit, max(1, window_seconds)))
    with _local_lock:
        count = backend.get(key, 0)
        if count >= limit:
            return False
        if count == 0 or not _local_incr(backend, key):
            backend.set(key, 1, timeout=window_seconds)
        return True


def attempt_give_back(scope: str, identity: str) -> None:
    """Uncount an attempt taken with ``attempt_take`` that turned out not to count (it was
    refused by another limit, succeeded, or could not be carried out)."""
    backend = caches["default"]
    key = _key(scope, identity)
    if isinstance(backend, RedisCache):
        cache_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(cache_key, write=True)
        client.eval(_GIVE_BACK, 1, cache_key)
        return
    with _local_lock:
        count = backend.get(key, 0)
        if count <= 1 or not _local_incr(backend, key, -1):
            backend.delete(key)


def _local_incr(backend, key: str, delta: int = 1) -> bool:
    try:
        backend.incr(key, delta)  # keeps the window's expiry
    except ValueError:  # the window ended since the count was read
        return False
    return True


def reset_attempts(scope: str, identity: str) -> None:
    caches["default"].delete(_key(scope, identity))
