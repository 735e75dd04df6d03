"""Loaded by pytest before Django (see addopts): points the settings at the test services.

The tests use real PostgreSQL and Redis. Each xdist worker gets its own Redis database, so
that clearing the cache or the channel layer in one worker never touches another.
"""

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_index = int(_worker.removeprefix("gw")) if _worker.startswith("gw") else 0

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/telehealth")
_redis_server, _, _redis_db = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1").rpartition(
    "/"
)
os.environ["REDIS_URL"] = f"{_redis_server}/{int(_redis_db or 0) + _index}"
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"telehealth-test-{_worker}"
os.environ["TELEHEALTH_VAR_DIR"] = tempfile.mkdtemp(prefix=f"telehealth-test-{_worker}-")
os.environ.pop("TELEHEALTH_MODE", None)
os.environ.pop("EMAIL_HOST", None)
