"""Celery beat for the clinic: it checks where it keeps its schedule before it starts, and
records in the shared cache when it last sent each entry, so that a beat that died is noticed
(``/healthz/beat``) instead of reminders silently stopping.

The schedule itself is ``CELERY_BEAT_SCHEDULE`` in the settings, the same on every host; the
file beat keeps (``CELERY_BEAT_SCHEDULE_FILENAME``, under ``TELEHEALTH_VAR_DIR``) only holds
when each entry last ran. Every entry is a sweep run every minute over rows in PostgreSQL, so
a beat started on another host, with no file, loses nothing: it runs each within a minute.
"""

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from celery.schedules import maybe_schedule
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

_SENT_KEY = "beat:sent:{name}"
# An entry is late once it has not been sent for this many of its intervals (3 minutes for
# the every-minute sweeps): one missed send is a slow tick, three are a beat that is down.
LATE_AFTER_INTERVALS = 3


def schedule_directory_check(schedule_filename: str) -> None:
    """Create the directory of beat's schedule file and check that beat can write there, or
    end the process with a message saying what to fix.

    Without this, beat started where nothing had created ``TELEHEALTH_VAR_DIR`` died with a
    FileNotFoundError from the depths of shelve.
    """
    directory = Path(schedule_filename).resolve().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Write access as this process really has it (a read-only mount, another owner).
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        logger.critical(
            "Celery beat cannot keep its schedule in %s (%s). Set TELEHEALTH_VAR_DIR to a "
            "directory this user can create or write to; beat keeps %s there.",
            directory,
            error.strerror or error,
            Path(schedule_filename).name,
        )
        # Not an exception: Celery would log it again with a traceback that says no more.
        raise SystemExit(1) from None


def beat_sent_record(name: str, *, at: dt.datetime) -> None:
    """Remember that beat sent entry ``name`` at ``at``; never stops beat if the cache fails."""
    try:
        cache.set(_SENT_KEY.format(name=name), at.isoformat(), timeout=None)
    except Exception:
        logger.warning("could not record that beat sent %s", name, exc_info=True)


@dataclass(frozen=True)
class EntryState:
    name: str
    every: dt.timedelta
    last_sent: dt.datetime | None
    late: bool


def beat_entry_states(*, now: dt.datetime | None = None) -> list[EntryState]:
    """Each entry of ``CELERY_BEAT_SCHEDULE`` with when beat last sent it and whether that is
    too long ago (never counts as too long ago)."""
    now = now or timezone.now()
    names = sorted(settings.CELERY_BEAT_SCHEDULE)
    stored = cache.get_many([_SENT_KEY.format(name=name) for name in names])
    states = []
    for name in names:
        # Interval schedules only (every entry today); a crontab entry would need its own rule.
        every = maybe_schedule(settings.CELERY_BEAT_SCHEDULE[name]["schedule"]).run_every
        value = stored.get(_SENT_KEY.format(name=name))
        last_sent = dt.datetime.fromisoformat(value) if value else None
        late = last_sent is None or now - last_sent > every * LATE_AFTER_INTERVALS
        states.append(EntryState(name=name, every=every, last_sent=last_sent, late=late))
    return states


class ClinicScheduler(PersistentScheduler):
    """Celery's file-backed scheduler, which checks its directory first and records what it
    sends (``CELERY_BEAT_SCHEDULER`` in the settings)."""

    def setup_schedule(self) -> None:
        schedule_directory_check(self.schedule_filename)
        super().setup_schedule()

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        # Recorded once the broker took the task: a beat that cannot reach it is late too.
        result = super().apply_async(entry, producer, advance, **kwargs)
        beat_sent_record(entry.name, at=timezone.now())
        return result
