"""Run as a script by test_sqlite_booking: a booking race on the quick start's SQLite database.

Prints "booked=<n> refused=<n> errors=<n> rows=<n>".
"""

import datetime as dt
import os
import sys
import threading

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "telehealth.settings"
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from clinic.audit import SYSTEM  # noqa: E402
from sessions.booking.services import SlotUnavailable, appointment_book  # noqa: E402
from sessions.models import Appointment  # noqa: E402
from tests import factories  # noqa: E402


def main(attempts: int) -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("migrate", verbosity=0)
    clinician = factories.make_clinician(hours=(dt.time(0), dt.time(23, 59)))
    service = factories.make_service(clinician)
    clients = [factories.make_client() for _ in range(attempts)]
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(
        days=2
    )
    connection.close()

    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(client) -> None:
        barrier.wait(timeout=30)
        try:
            appointment_book(
                service=service,
                clinician=clinician,
                client=client,
                starts_at=start,
                actor=None,
                context=SYSTEM,
            )
            outcome = "booked"
        except SlotUnavailable:
            outcome = "refused"
        except Exception as error:  # every other outcome is reported, not hidden
            outcome = f"error {error!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [outcome for outcome in outcomes if outcome.startswith("error")]
    print(
        f"booked={outcomes.count('booked')} refused={outcomes.count('refused')} "
        f"errors={len(errors)} rows={Appointment.objects.count()}"
    )
    for error in errors:
        print(error)


if __name__ == "__main__":
    main(int(sys.argv[1]))
