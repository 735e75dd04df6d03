"""The apps depend one way: dashboard on assessments on sessions on clinic (.importlinter, run by
scripts/test, checks the imports). A lower layer may still not name a higher one's URLs: it asks
for the page by what it is for (clinic/pages.py), and the app that owns it registers it."""

import re
from pathlib import Path

import grimp
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


# Views, consumers and tasks only translate (HTTP, socket frames, task arguments) to the rules:
# reads that decide access are selectors, writes are services.
TRANSLATORS = ["**/views.py", "**/views/*.py", "**/consumers.py", "**/tasks.py"]
APPS = {"clinic", "sessions", "assessments", "dashboard"}
QUERYING = re.compile(r"\.objects\.|get_object_or_404|get_list_or_404|\.(filter|exclude)\(")


def test_views_consumers_and_tasks_hold_no_queries() -> None:
    files = sorted(
        path
        for pattern in TRANSLATORS
        for path in ROOT.glob(pattern)
        if path.relative_to(ROOT).parts[0] in APPS
    )
    # Every app's, the room's and booking's included.
    assert {"sessions/room/views.py", "sessions/booking/views/booking.py"} <= {
        str(path.relative_to(ROOT)) for path in files
    }
    assert len(files) > 15
    querying = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if QUERYING.search(line) and not line.lstrip().startswith("#")
    ]
    assert querying == []


def import_cycles(graph, modules: set[str]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's
    strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child) & modules
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_module_of_the_apps_imports_itself_back() -> None:
    # Imports inside functions count: they only hide a cycle. Code that queues a task names it
    # (telehealth.tasks.queue_after_commit) rather than importing the module that calls it back.
    graph = grimp.build_graph("telehealth", "clinic", "sessions", "assessments", "dashboard")
    modules = {module for module in graph.modules if ".migrations" not in module}
    assert len(modules) > 100
    assert import_cycles(graph, modules) == []
    # The check finds a cycle when there is one.
    graph.add_import(importer="clinic.pages", imported="clinic.apps")
    assert import_cycles(graph, modules) == [["clinic.apps", "clinic.pages"]]
