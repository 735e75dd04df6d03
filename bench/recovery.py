"""Recovery benchmark (server side): how soon the clinic serves again after each failure.

Run from the checkout:

    .venv/bin/python bench/recovery.py           # 7 repetitions of each
    .venv/bin/python bench/recovery.py --quick   # 3 repetitions

It uses its own PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/telehealth_bench_recovery, dropped, recreated and migrated
at the start; the script refuses a name without "bench") and a private redis-server on a free
port (database 12, no persistence), which it kills and starts again; never a shared Redis. It
starts a real daphne (tests/asgi_server.py), a real Celery worker with the prefork pool
(tests/celery_worker.py) and a real SMTP server on loopback (tests/smtp.py).

1. Database drop: every connection of the server ended (pg_terminate_backend), then GET /book/
   (a page that reads the database) until it answers 200: the time to the first 200, and how
   many answers before it were not 200.
2. Task rerun after a pool process is killed: a sign-in link task queued; once the process
   running it has asked the mail server (slow to answer, 1 s a step) to take the message, the
   process is SIGKILLed. Measured: from the kill to the rerun asking the mail server again, and
   to the email's arrival. Each link must arrive exactly once.
3. Redis restart: the redis-server killed, then started again; the sign-in link form (its rate
   limits count in Redis) posted until it answers 200: the time from the restart (the new
   redis-server answering PING) to that 200.

Exits with status 1 if an answer was a 500 or an email arrived twice or never.
"""

import argparse
import http.client
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402
from tests.smtp import SMTPServer  # noqa: E402

REDIS_DB = 12
QUEUE = "telehealth-bench-recovery"
WORK = Path(tempfile.mkdtemp(prefix="bench-recovery-"))

redis_server = RedisServer(log_path=WORK / "redis.log")
redis_server.start()
smtp = SMTPServer()
smtp.start()

from bench import support  # noqa: E402

# The private Redis, whatever the shell says: this script kills it.
os.environ["REDIS_URL"] = redis_server.url(REDIS_DB)
os.environ["CELERY_BROKER_URL"] = redis_server.url(REDIS_DB)
support.set_up_django(
    {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth_bench_recovery",
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
)
import datetime as dt  # noqa: E402

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

# The settings were read before REDIS_URL was known: point the task client at the private Redis.
from telehealth.celery import app as celery_app  # noqa: E402
from tests.asgi_server import AsgiServer  # noqa: E402
from tests.celery_worker import CeleryWorker  # noqa: E402
from tests.raw_http import Request, form_post  # noqa: E402

celery_app.conf.broker_url = redis_server.url(REDIS_DB)


def send(port: int, request: Request) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Host": "localhost", **request.headers}
        conn.request(request.method, request.path, body=request.body or None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def until_200(port: int, request: Request, *, timeout: float = 60) -> tuple[float, list[int]]:
    """Seconds until ``request`` answers 200 and the other answers before it."""
    started = time.monotonic()
    others = []
    while True:
        status = send(port, request)
        if status == 200:
            return time.monotonic() - started, others
        others.append(status)
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"no 200 within {timeout} s: {others[-5:]}")
        time.sleep(0.01)


def database_drop(server: AsgiServer, repetitions: int) -> tuple[list[float], list[int]]:
    page = Request("GET", "/book/")
    times, failures = [], []
    for _ in range(repetitions):
        # The pool full of connections that were used.
        for _ in range(20):
            assert send(server.port, page) == 200
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        seconds, others = until_200(server.port, page)
        times.append(seconds)
        failures.append(len(others))
        if any(status >= 500 and status != 503 for status in others):
            sys.exit(f"database drop: a server error {others}")
        time.sleep(0.5)
    return times, failures


def task_rerun(worker: CeleryWorker, repetitions: int) -> tuple[list[float], list[float]]:
    from clinic.models import Role, SignInLink, User
    from clinic.tasks import send_sign_in_link

    inbox = smtp.inbox
    rerun, arrived = [], []
    for number in range(repetitions):
        inbox.clear()
        email = f"rerun{number}@example.org"
        user = User.objects.create_user(email=email, full_name="Rerun", role=Role.CLIENT)
        link = SignInLink.objects.create(user=user, expires_at=timezone.now() + dt.timedelta(1))
        (child,) = worker.pool_children()
        inbox.delay = 1.0
        send_sign_in_link.delay(str(link.id))
        deadline = time.monotonic() + 30
        while email not in inbox.asked:
            if time.monotonic() > deadline:
                sys.exit(f"the task never started:\n{worker.log()[-3000:]}")
            time.sleep(0.005)
        os.kill(child, signal.SIGKILL)
        killed = time.monotonic()
        inbox.delay = 0.0
        while inbox.asked.count(email) < 2:
            if time.monotonic() - killed > 120:
                sys.exit(f"the task was not run again:\n{worker.log()[-3000:]}")
            time.sleep(0.005)
        rerun.append(time.monotonic() - killed)
        inbox.wait_for(1, to=email, timeout=60)
        arrived.append(time.monotonic() - killed)
        time.sleep(1)
        if len(inbox.to(email)) != 1:
            sys.exit(f"{email}: {len(inbox.to(email))} emails")
        # The new pool process is up before the next kill.
        deadline = time.monotonic() + 30
        while not worker.pool_children() or child in worker.pool_children():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return rerun, arrived


def redis_restart(server: AsgiServer, repetitions: int) -> list[float]:
    link_form = form_post("/login/link/", {"email": "nobody@example.org"})
    times = []
    for _ in range(repetitions):
        assert send(server.port, link_form) == 200
        redis_server.stop()
        statuses = [send(server.port, link_form) for _ in range(3)]
        if set(statuses) != {503}:
            sys.exit(f"Redis down: {statuses}, not 503")
        redis_server.start()
        seconds, others = until_200(server.port, link_form)
        if any(status >= 500 and status != 503 for status in others):
            sys.exit(f"Redis restart: a server error {others}")
        times.append(seconds)
        time.sleep(0.5)
    return times


def line(name: str, values: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    median = statistics.median(values) * scale
    return (
        f"| {name} | {median:.0f} {unit} | {min(values) * scale:.0f}–{max(values) * scale:.0f} "
        f"{unit} | {len(values)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repetitions = 3 if parser.parse_args().quick else 7
    support.check_database_is_ours()
    support.recreate_database()
    connection.close()
    call_command("migrate", verbosity=0)
    env = {
        "DJANGO_SETTINGS_MODULE": "telehealth.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": support.database_url_for_server(),
        "REDIS_URL": redis_server.url(REDIS_DB),
        "CELERY_BROKER_URL": redis_server.url(REDIS_DB),
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SITE_URL": "http://localhost",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "false",
        "SIGN_IN_LINKS_PER_IP_PER_HOUR": "100000",
        "SIGN_IN_LINKS_PER_EMAIL_PER_HOUR": "100000",
    }
    server = AsgiServer(env=env, log_path=WORK / "daphne.log")
    worker = CeleryWorker(queue=QUEUE, env=env, log_path=WORK / "worker.log", pool="prefork")
    print(f"Recovery, {repetitions} repetitions; {support.code_version()}")
    print(
        f"{platform.node()}: {support.cpu_model()}, {os.cpu_count()} CPUs; "
        f"load {support.load_average()}; PostgreSQL pool check on; visibility timeout "
        f"{settings.CELERY_VISIBILITY_TIMEOUT_SECONDS} s"
    )
    try:
        server.start()
        worker.start()
        drop, not_ok = database_drop(server, repetitions)
        rerun, arrived = task_rerun(worker, repetitions)
        restart = redis_restart(server, repetitions)
    finally:
        worker.stop()
        server.stop()
        redis_server.stop()
        smtp.stop()
    print()
    print("| after | median | range | runs |")
    print("|---|---|---|---|")
    print(line("database drop: first 200 of a database page", drop))
    print(line("pool process killed mid-send: task rerun asks the mail server", rerun))
    print(line("pool process killed mid-send: the email arrives", arrived))
    print(line("Redis restart: first 200 of the sign-in link form", restart))
    print(f"\nanswers not 200 before the first 200 after a database drop: {not_ok}")


if __name__ == "__main__":
    main()
