"""Pages of a higher layer that a lower one links to, by the name of what they are for.

The apps depend one way (docs/architecture.md; .importlinter checks it): clinic, then booking
and the room (sessions), then assessments and programs, then the dashboard that composes them.
A lower layer still needs to send people to a page above it (after sign-in, home; from an email,
the client's record), so it asks for the page here and the app that owns it registers it when
it loads (``DashboardConfig.ready``). Templates use ``{% page_url "client_record" uuid %}``
(clinic/templatetags/pages.py).
"""

from collections.abc import Callable

_PAGES: dict[str, Callable[..., str]] = {}

# What a lower layer may ask for; the owner must register each (checked at start-up).
NAMES = ("client_home", "clinician_home", "client_record")


def register(name: str, url: Callable[..., str]) -> None:
    if name not in NAMES:
        raise ValueError(f"No page is called {name!r}: add it to clinic.pages.NAMES.")
    _PAGES[name] = url


def page_url(name: str, *args: object) -> str:
    """The path of the page ``name`` (with its arguments, e.g. a client's UUID)."""
    try:
        url = _PAGES[name]
    except KeyError:
        raise LookupError(f"No app has registered the page {name!r}.") from None
    return url(*args)


def missing() -> list[str]:
    return [name for name in NAMES if name not in _PAGES]
