"""The README's table of the sessions app's beat entries is the schedule beat runs."""

import re
from pathlib import Path

from telehealth.celery import app as celery_app


def test_beat_runs_what_the_readme_says_every_minute() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Booking emails") :]
    section = section[: section.index("\n### ", 4)]
    documented = {
        name: (task, every)
        for name, task, every in re.findall(
            r"^\| `([a-z-]+)` \| `(sessions\.tasks\.[a-z_]+)` \| every ([a-z]+) \|$",
            section,
            re.M,
        )
    }
    assert documented, "the README lists no beat entries of the sessions app"
    # What a worker does when it starts: find every app's tasks module.
    celery_app.loader.import_default_modules()
    schedule = celery_app.conf.beat_schedule
    ours = {
        name: entry for name, entry in schedule.items() if entry["task"].startswith("sessions.")
    }
    assert set(ours) == set(documented)
    seconds = {"minute": 60.0}
    for name, (task, every) in documented.items():
        assert ours[name]["task"] == task, name
        assert ours[name]["schedule"] == seconds[every], name
        assert task in celery_app.tasks, f"{task} is not a registered task"
