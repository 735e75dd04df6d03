"""The apps depend one way: dashboard on assessments on sessions on clinic (.importlinter, run by
scripts/test, checks the imports). A lower layer may still not name a higher one's URLs: it asks
for the page by what it is for (clinic/pages.py), and the app that owns it registers it."""

import re
from pathlib import Path

from django.core import checks

from clinic import pages

ROOT = Path(__file__).resolve().parent.parent
# Each app below the dashboard, with its templates.
LOWER = ["clinic", "sessions", "assessments", "templates/clinic", "templates/sessions"]
LOWER += ["templates/assessments", "templates/emails"]
NAMED = re.compile(r"""["']dashboard:""")


def test_no_lower_layer_names_a_dashboard_url() -> None:
    files = [
        path
        for folder in LOWER
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".html", ".txt"} and "migrations" not in path.parts
    ]
    assert len(files) > 50
    naming = [str(path.relative_to(ROOT)) for path in files if NAMED.search(path.read_text())]
    assert naming == []


def test_every_page_a_lower_layer_links_to_is_registered() -> None:
    assert pages.missing() == []
    errors = [m for m in checks.run_checks() if m.id == "clinic.E001"]
    assert errors == []
    assert pages.page_url("client_home") == "/me/"
