"""The docs' table of each app's beat entries is the schedule beat runs: same names, same
tasks (registered with the Celery app), every minute."""

import re
from pathlib import Path

import pytest

from telehealth.celery import app as celery_app

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize(
    ("app", "doc", "heading"),
    [
        ("sessions", "booking.md", "## Booking emails"),
        ("assessments", "programs-and-reminders.md", "## What beat runs"),
    ],
)
def test_beat_runs_what_the_docs_say_every_minute(app: str, doc: str, heading: str) -> None:
    text = (DOCS / doc).read_text()
    section = text[text.index(f"\n{heading}\n") + 1 :]
    # Up to the next heading of the same level, or the end of the file.
    end = section.find("\n## ", 3)
    section = section if end == -1 else section[:end]
    documented = {
        name: (task, every)
        for name, task, every in re.findall(
            rf"^\| `([a-z-]+)` \| `({app}\.tasks\.[a-z_]+)` \| every ([a-z]+) \|$",
            section,
            re.M,
        )
    }
    assert documented, f"docs/{doc} lists no beat entries of the {app} app under {heading!r}"
    # What a worker does when it starts: find every app's tasks module.
    celery_app.loader.import_default_modules()
    schedule = celery_app.conf.beat_schedule
    ours = {name: entry for name, entry in schedule.items() if entry["task"].startswith(f"{app}.")}
    assert set(ours) == set(documented)
    seconds = {"minute": 60.0}
    for name, (task, every) in documented.items():
        assert ours[name]["task"] == task, name
        assert ours[name]["schedule"] == seconds[every], name
        assert task in celery_app.tasks, f"{task} is not a registered task"
