"""Fixed-window attempt counters in the shared cache (Redis in production)."""

import hashlib

from django.core.cache import cache


def _key(scope: str, identity: str) -> str:
    # Hash the identity so that email addresses never sit in the cache as plain text.
    digest = hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}"


def is_limited(scope: str, identity: str, *, limit: int) -> bool:
    return cache.get(_key(scope, identity), 0) >= limit


def count_attempt(scope: str, identity: str, *, window_seconds: int) -> int:
    key = _key(scope, identity)
    # add() only sets a missing key, so the window starts at the first attempt and is not
    # extended by later ones; incr() is atomic in Redis.
    cache.add(key, 0, timeout=window_seconds)
    try:
        return cache.incr(key)
    except ValueError:  # the window expired between add() and incr()
        cache.add(key, 1, timeout=window_seconds)
        return 1


def reset_attempts(scope: str, identity: str) -> None:
    cache.delete(_key(scope, identity))
