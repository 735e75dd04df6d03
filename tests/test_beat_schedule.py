"""The README's table of each app's beat entries is the schedule beat runs: same names, same
tasks (registered with the Celery app), every minute."""

import re
from pathlib import Path

import pytest

from telehealth.celery import app as celery_app

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize(
    ("app", "heading"),
    [("sessions", "### Booking emails"), ("assessments", "### Home programs and reminders")],
)
def test_beat_runs_what_the_readme_says_every_minute(app: str, heading: str) -> None:
    readme = README.read_text()
    section = readme[readme.index(heading) :]
    section = section[: section.index("\n### ", 4)]
    documented = {
        name: (task, every)
        for name, task, every in re.findall(
            rf"^\| `([a-z-]+)` \| `({app}\.tasks\.[a-z_]+)` \| every ([a-z]+) \|$",
            section,
            re.M,
        )
    }
    assert documented, f"the README lists no beat entries of the {app} app"
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
