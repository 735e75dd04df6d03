"""Readiness: whether this web process can serve requests now (``/healthz/ready``).

Liveness (``/healthz/live``) only says the process answers: a proxy or supervisor that
restarted processes on readiness would restart every one of them whenever PostgreSQL or Redis
blinked, which cures nothing. Readiness is for routing: a process whose database or Redis does
not answer, or whose code expects migrations not yet applied (a release half done), gets no
traffic until it is ready again.
"""

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

# A health check that waits longer than the proxy's own timeout tells it nothing.
CHECK_TIMEOUT_SECONDS = 3

# Once every migration of this code is applied it stays applied for the life of the process:
# loading the migration graph on every probe would cost far more than the probe itself.
_migrations_applied = False


def database_problem() -> str | None:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        pool = getattr(connection, "pool", None)
        if pool is not None:
            pool.open()
            # Checked before it is handed out (the pool's check): a round trip to PostgreSQL.
            with pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as pooled:
                pooled.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except Exception as error:  # any failure is the answer, not an error of the check
        return f"database: {type(error).__name__}: {error}".strip()
    return None


def migrations_problem() -> str | None:
    global _migrations_applied
    if _migrations_applied:
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return f"migrations: cannot read them ({type(error).__name__}: {error})"
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan)
        return f"migrations not applied: {names}"
    _migrations_applied = True
    return None


def redis_problems() -> list[str]:
    """The Redis of the cache and channel layer and, when it is another one, the broker's."""
    urls = {"redis": settings.REDIS_URL}
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        urls.setdefault("broker", settings.CELERY_BROKER_URL)
        if urls["broker"] == urls["redis"]:
            del urls["broker"]
    problems = []
    for name, url in urls.items():
        if not url:
            continue
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
            socket_timeout=CHECK_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        except redis.RedisError as error:
            problems.append(f"{name}: {type(error).__name__}: {error}")
        finally:
            client.close()
    return problems


def readiness_problems() -> list[str]:
    """What keeps this process from serving now, one line each; empty when it is ready."""
    problems = []
    database = database_problem()
    if database:
        problems.append(database)
    else:
        migrations = migrations_problem()
        if migrations:
            problems.append(migrations)
    problems.extend(redis_problems())
    return problems
