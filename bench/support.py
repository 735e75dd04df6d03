"""Support code shared by the benchmark scripts in bench/.

A script imports this module after putting the checkout on sys.path and before Django is set
up: nothing here imports a model, and ``set_up_django`` is what sets Django up. What differs
between the scripts (their database, their Redis database number, the figures' precision)
stays in the scripts and comes in as a parameter.
"""

import math
import os
from collections.abc import Iterable

import django

# Defaults every benchmark shares; a script adds its own database, Redis database and prefixes.
COMMON_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "telehealth.settings",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",  # no INFO line per Celery task or request in the printed results
}


def set_up_django(environment: dict[str, str]) -> None:
    """Set each variable of ``environment`` (and of COMMON_ENVIRONMENT) the shell has not set,
    then set Django up."""
    for name, value in {**COMMON_ENVIRONMENT, **environment}.items():
        os.environ.setdefault(name, value)
    # Dropped even when the shell sets them: production mode refuses to start on the benchmark's
    # insecure defaults, and a mail server named there must never get the benchmark's email.
    os.environ.pop("TELEHEALTH_MODE", None)
    os.environ.pop("EMAIL_HOST", None)
    django.setup()


# --- Figures ---------------------------------------------------------------------------------


def percentile(values: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with ``fraction`` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def mib(size: float) -> str:
    return f"{size / 1024 / 1024:.1f}"


def table(headers: list[str], rows: list[list[str]], *, text: tuple[int, ...] = (0,)) -> str:
    """A Markdown table; the ``text`` columns are aligned left, the others (numbers) right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [
            str(c).ljust(w) if number in text else str(c).rjust(w)
            for number, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
