"""Two health checks: liveness (``/healthz/live``, and ``/healthz`` as before) says only that
the process answers; readiness (``/healthz/ready``) that the database and Redis answer and
every migration is applied, and otherwise says what is wrong with 503 and Retry-After.

Each fault is real: a private Redis that the test stops, a daphne whose PostgreSQL address has
nothing listening, a migration marked unapplied in the database.
"""

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from telehealth import health
from tests.asgi_server import AsgiServer
from tests.redis_server import RedisServer
from tests.smtp import free_port


@pytest.fixture
def fresh_migration_check(monkeypatch) -> None:
    monkeypatch.setattr(health, "_migrations_applied", False)


@pytest.mark.usefixtures("fresh_migration_check")
@pytest.mark.parametrize("path", ["/healthz", "/healthz/live", "/healthz/ready"])
def test_all_answer_ok_when_everything_is_up(db, client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content.decode().startswith("ok")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(log_path=tmp_path / "redis.log")
    with server:
        yield server


def test_redis_down_makes_the_process_not_ready_but_still_live(
    db, client, settings, redis: RedisServer
) -> None:
    settings.REDIS_URL = redis.url()
    settings.CELERY_BROKER_URL = redis.url(1)
    assert client.get("/healthz/ready").status_code == 200

    redis.stop()
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert int(ready["Retry-After"]) > 0
    body = ready.content.decode()
    assert body.startswith("not ready\n")
    assert f"redis: ConnectionError: Error 111 connecting to 127.0.0.1:{redis.port}" in body
    assert client.get("/healthz/live").status_code == 200
    assert client.get("/healthz").status_code == 200

    redis.start()
    assert client.get("/healthz/ready").status_code == 200


@pytest.mark.usefixtures("fresh_migration_check")
def test_an_unapplied_migration_makes_the_process_not_ready(db, client) -> None:
    with connection.cursor() as cursor:
        # Inside the test's transaction, rolled back when it ends.
        cursor.execute(
            "DELETE FROM django_migrations WHERE id = (SELECT max(id) FROM django_migrations "
            "WHERE app = 'sessions') RETURNING name"
        )
        (name,) = cursor.fetchone()
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert f"migrations not applied: sessions.{name}" in ready.content.decode()


def get(server: AsgiServer, path: str) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "asgi_server",
    # PostgreSQL down: nothing listens where the server looks for it.
    [
        {
            "env": {
                "DEBUG": "false",
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/telehealth",
                "DATABASE_POOL_TIMEOUT_SECONDS": "2",
            }
        }
    ],
    indirect=True,
)
def test_with_postgresql_down_the_process_is_live_not_ready_and_pages_say_try_again(
    asgi_server: AsgiServer,
) -> None:
    assert get(asgi_server, "/healthz/live")[0] == 200
    status, headers, body = get(asgi_server, "/healthz/ready")
    assert status == 503, body
    assert int(headers["Retry-After"]) > 0
    assert "database: PoolTimeout" in body
    # A page that needs the database: "try again in a moment", not a server error.
    status, headers, body = get(asgi_server, "/book/")
    assert status == 503, body[:500]
    assert int(headers["Retry-After"]) > 0
    assert "try again" in body
