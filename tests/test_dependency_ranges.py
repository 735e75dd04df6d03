"""Every dependency has a version range that the pinned versions in constraints.txt satisfy."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# Time zone data is released by date and only ever adds rules: newer is always right.
UNBOUNDED_ON_PURPOSE = {"tzdata"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, separator, version = line.strip().partition("==")
        if separator:
            found[canonical(name)] = version
    return found


def test_every_dependency_has_an_upper_bound() -> None:
    unbounded = [
        str(requirement)
        for requirement in requirements()
        if canonical(requirement.name) not in UNBOUNDED_ON_PURPOSE
        and not any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier)
    ]

    assert unbounded == []


def test_the_pinned_versions_are_inside_the_ranges() -> None:
    pinned = pins()
    outside = [
        f"{requirement} (pinned {pinned.get(canonical(requirement.name))})"
        for requirement in requirements()
        if canonical(requirement.name) not in pinned
        or pinned[canonical(requirement.name)] not in requirement.specifier
    ]

    assert outside == []
