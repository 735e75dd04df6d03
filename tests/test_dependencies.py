"""The quick start installs only the project's own dependencies (scripts/install without an
extra), while the test run installs the `test` and `vision` extras too. A module the server
imports from an extra would pass every other test and break `scripts/demo` on a fresh machine,
so this test loads the whole application with everything outside the base dependencies hidden.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: hides every installed module that only the extras bring, then
# loads what `scripts/demo` loads (settings, URLs and views, the ASGI application with its
# consumers, the Celery tasks) and runs the system checks.
LOAD_WITH_BASE_DEPENDENCIES_ONLY = r"""
import importlib.abc
import importlib.metadata as metadata
import re
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements):
    wanted, seen = list(requirements), set()
    while wanted:
        requirement = wanted.pop()
        extras = requirement.extras or {""}
        if requirement.marker and not any(
            requirement.marker.evaluate({**default_environment(), "extra": extra})
            for extra in extras
        ):
            continue
        name = canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or any(
                child.marker.evaluate({**default_environment(), "extra": extra})
                for extra in requirement.extras or {""}
            ):
                child.marker = None
                wanted.append(child)
    return seen


base = [Requirement(line) for line in metadata.requires("telehealth-clinic") or []]
base = [r for r in base if r.marker is None or r.marker.evaluate(default_environment())]
allowed = closure(base)
hidden = {
    module
    for module, distributions in metadata.packages_distributions().items()
    if not any(canonical(d) in allowed for d in distributions)
}


class HideExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {fullname!r} (an extra)", name=fullname)
        return None


sys.meta_path.insert(0, HideExtras())
assert "mediapipe" in hidden and "pytest" in hidden, sorted(hidden)

import django

django.setup()

from django.core.management import call_command
from django.urls import get_resolver

import telehealth.asgi  # noqa: F401  (consumers, media worker)
from telehealth.celery import app

app.loader.import_default_modules()


def callbacks(resolver):
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from callbacks(pattern)
        else:
            yield pattern.callback


assert sum(1 for _ in callbacks(get_resolver())) > 20
call_command("check", fail_level="WARNING")
print("loaded with", len(allowed), "distributions;", len(hidden), "modules hidden")
"""


def test_the_server_loads_without_the_extras() -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "TELEHEALTH_", "CELERY_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_HOST"}
    }
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_BASE_DEPENDENCIES_ONLY],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "telehealth.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded with" in result.stdout
