"""Hostile values sent to every page and form of the site, as each kind of visitor.

Shared by the test suite (``tests/test_page_fuzz.py``) and the benchmark (``bench/fuzz_pages.py``,
which runs the same test with more rounds and prints the figures). The pages come from Django's
URL resolver, so a new page is fuzzed without anyone listing it; the fields of its forms come from
the forms the pages themselves show (plus a few common names), so a new form field is too.

For each page, as one visitor (a signed-in test client):

- GET with the URL's parameters filled with the other client's objects (the visitor must not see
  that client's name or email unless their role may), with a UUID that names nothing, a malformed
  UUID and hostile strings in each text segment;
- GET with hostile query strings and POST with hostile form bodies: NUL, very long text, invalid
  UTF-8 percent-encodings, SQL and HTML injection, wrong types, negative and huge numbers,
  impossible dates and unknown time zones. Each request gives every field a different value,
  and each round moves the values on by one field, so over the rounds every field gets each.

A page that turns the visitor away at the door (to sign in, or 403) for a plain GET and POST gets
only two hostile requests: its view never reads their values.

Every answer is recorded; the caller asserts on ``Report``: no 5xx, no other client's data, and
every refused POST (4xx) left the database as it was.
"""

import html.parser
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.apps import apps
from django.db import connection
from django.test import Client as HttpClient
from django.urls import URLResolver, get_resolver, resolve
from django.urls.converters import UUIDConverter
from django.urls.exceptions import Resolver404

NOWHERE = "00000000-0000-4000-8000-000000000000"  # a well-formed UUID that names nothing
MALFORMED_UUID = "12345678-1234-1234-1234-1234567"
LONG = "x" * 20_000

# Text values sent in query strings, form fields and path segments. The invalid UTF-8 one is
# already percent-encoded: it is put into bodies and addresses as it is.
HOSTILE: dict[str, str] = {
    "very long": LONG,
    "SQL": "' OR '1'='1'; DROP TABLE clinic_client; --",
    "HTML": '"><script>alert(1)</script><img src=x onerror=alert(1)>',
    "negative": "-1",
    "huge": "99999999999999999999999999999999",
    "not a number": "1e309",
    "impossible date": "2026-02-31",
    "bad time": "25:61",
    "unknown time zone": "Mars/Olympus_Mons",
    "UUID of nothing": NOWHERE,
    "malformed UUID": MALFORMED_UUID,
    "right-to-left and emoji": "\u202egnp.exe 🦵 Ω",
    "path traversal": "../../../etc/passwd",
    "empty": "",
}
INVALID_UTF8 = "%ff%fe%c3%28%ed%a0%80"
NUL = "a\x00b"

# Query parameters tried on every page besides those of the page's own GET forms.
COMMON_QUERY_NAMES = ["q", "page", "sort", "tz", "next", "all", "start", "week", "clinician"]
# Form fields tried where no form on any page posts to the page.
COMMON_FIELD_NAMES = ["body", "email", "start", "value", "note", "reason"]
# The monitor's page answers 503 when Celery beat is not sending (no beat runs in the tests):
# that answer is the page's purpose, not a failure.
UNAVAILABLE_BY_DESIGN = ("/healthz/beat",)
# Text path segments get these first, so that the view behind them is reached at all.
SEGMENT_SAMPLES = {"kind": "time-off", "who": "any", "protocol": "lunge", "app_label": "clinic"}


@dataclass(frozen=True)
class Page:
    """One URL pattern: ``template`` with ``%(name)s`` for each parameter."""

    template: str
    uuid_params: tuple[str, ...]
    text_params: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> str:
        return "/" + self.template % {name: values[name] for name in self.params}

    @property
    def params(self) -> tuple[str, ...]:
        return self.uuid_params + self.text_params


def site_pages() -> list[Page]:
    """Every URL pattern of the site, from the resolver (the admin's included)."""
    pages: dict[str, Page] = {}

    def walk(resolver: URLResolver, prefix: str) -> None:
        for key in list(resolver.reverse_dict.keys()):
            for possibility, _pattern, _defaults, converters in resolver.reverse_dict.getlist(key):
                for template, params in possibility:
                    uuids = tuple(p for p in params if isinstance(converters.get(p), UUIDConverter))
                    texts = tuple(p for p in params if p not in uuids)
                    pages.setdefault(prefix + template, Page(prefix + template, uuids, texts))
        for _namespace, (namespace_prefix, sub) in resolver.namespace_dict.items():
            walk(sub, prefix + namespace_prefix.removeprefix("^"))

    walk(get_resolver(), "")
    return sorted(pages.values(), key=lambda page: page.template)


@dataclass(frozen=True)
class Visitor:
    """A signed-in (or not) visitor. ``must_not_see``: texts (another client's name and email)
    no answer to them may contain. ``own`` and ``others``: UUIDs by URL parameter name, of
    objects the visitor may open (their own record, or their own client's) and of objects of a
    client the visitor has no business with. ``sign_in_again`` restores the session after a
    request that signed the visitor out (the sign-out form is fuzzed too)."""

    role: str
    http: HttpClient
    must_not_see: tuple[str, ...]
    own: Mapping[str, Sequence[str]]
    others: Mapping[str, Sequence[str]]
    sign_in_again: Callable[[], None] = lambda: None


@dataclass
class Problem:
    role: str
    method: str
    path: str
    what: str

    def __str__(self) -> str:
        shown = self.path if len(self.path) < 160 else self.path[:150] + "…"
        return f"{self.role}: {self.method} {shown}: {self.what}"


@dataclass
class Report:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_role: Counter = field(default_factory=Counter)
    refused_writes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        """5xx answers but the monitor's 503 (UNAVAILABLE_BY_DESIGN)."""
        return sum(1 for problem in self.problems if problem.what.startswith("answered 5"))


class _Forms(html.parser.HTMLParser):
    """The forms of a page: (method, action, field names)."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[tuple[str, str, set[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            method = (attributes.get("method") or "get").lower()
            self.forms.append((method, attributes.get("action") or self.page_path, set()))
        elif tag in {"input", "select", "textarea", "button"} and self.forms:
            name = attributes.get("name")
            if name and name != "csrfmiddlewaretoken":
                self.forms[-1][2].add(name)


def _template_of(path: str) -> str | None:
    try:
        match = resolve(path.split("?")[0])
    except Resolver404:
        return None
    return re.sub(r"<(?:\w+:)?(\w+)>", r"%(\1)s", match.route)


# Tables a refused request may still write: the audit log (a page shown again with the form's
# errors records that the record was viewed) and sessions.
_UNWATCHED_TABLES = {"clinic_auditevent", "django_session"}


def database_fingerprint() -> str:
    """A digest of every row of every table but the unwatched ones."""
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.db_table not in _UNWATCHED_TABLES and not model._meta.proxy
    )
    # Table names from the models, not from a visitor.
    parts = " UNION ALL ".join(
        f"SELECT '{table}' AS t, md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) "  # noqa: S608
        f'AS d FROM "{table}" r'
        for table in dict.fromkeys(tables)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT string_agg(t || d, ',' ORDER BY t) FROM ({parts}) x")  # noqa: S608
        return cursor.fetchone()[0]


def _rotated(names: Sequence[str], values: Sequence[str], round_number: int) -> list[tuple]:
    """Each name a different value, moved on by one for each round."""
    return [(name, values[(i + round_number) % len(values)]) for i, name in enumerate(names)]


def _body(pairs: Sequence[tuple[str, str]]) -> str:
    """A form body; the invalid UTF-8 value goes in as it is (already percent-encoded)."""
    return "&".join(
        f"{quote(name)}={value if value == INVALID_UTF8 else quote(value)}" for name, value in pairs
    )


class Fuzzer:
    def __init__(self, *, rounds: int) -> None:
        self.rounds = rounds
        self.report = Report()
        self.pages = site_pages()
        self.posted_fields: dict[str, set[str]] = {}
        self.query_names: dict[str, set[str]] = {}
        # The database's fingerprint as of the last answer that cannot have written (a 4xx),
        # or None: computed again only when something may have changed it.
        self._fingerprint: str | None = None

    # --- One request ----------------------------------------------------------------------

    def _send(self, visitor: Visitor, method: str, path: str, body: str | None = None):
        if method == "GET":
            response = visitor.http.get(path)
        else:
            response = visitor.http.post(
                path, body or "", content_type="application/x-www-form-urlencoded"
            )
        self.report.requests += 1
        self.report.statuses[response.status_code] += 1
        self.report.by_role[visitor.role] += 1
        by_design = response.status_code == 503 and path.startswith(UNAVAILABLE_BY_DESIGN)
        if response.status_code >= 500 and not by_design:
            self._problem(visitor, method, path, f"answered {response.status_code}")
        content = (
            b"".join(response.streaming_content)
            if getattr(response, "streaming", False)
            else response.content
        )
        text = content.decode(errors="replace")
        for secret in visitor.must_not_see:
            if secret in text:
                self._problem(visitor, method, path, f"showed {secret!r}")
        if not 400 <= response.status_code < 500:
            self._fingerprint = None
        if method == "POST" and "_auth_user_id" not in visitor.http.session:
            visitor.sign_in_again()
            self._fingerprint = None
        return response, text

    def _problem(self, visitor: Visitor, method: str, path: str, what: str) -> None:
        self.report.problems.append(Problem(visitor.role, method, path, what))

    def _post_watched(self, visitor: Visitor, path: str, body: str) -> int:
        before = self._fingerprint or database_fingerprint()
        response, _ = self._send(visitor, "POST", path, body)
        if 400 <= response.status_code < 500:
            self.report.refused_writes += 1
            after = database_fingerprint()
            if after != before:
                self._problem(visitor, "POST", path, f"refused ({response.status_code}) but wrote")
            self._fingerprint = after
        return response.status_code

    # --- Pages ----------------------------------------------------------------------------

    def _fills(self, page: Page, visitor: Visitor) -> list[dict[str, str]]:
        """The visitor's own fill first (their objects where they have them, sample segments),
        then the other client's objects, then hostile values in each parameter in turn."""

        def first(objects: Mapping[str, Sequence[str]], name: str) -> str:
            return (objects.get(name) or visitor.others.get(name) or [NOWHERE])[0]

        own = {name: first(visitor.own, name) for name in page.uuid_params}
        own |= {name: SEGMENT_SAMPLES.get(name, "1") for name in page.text_params}
        fills = [own]
        if page.uuid_params:
            fills.append(own | {name: first(visitor.others, name) for name in page.uuid_params})
        for name in page.uuid_params:
            for value in [*visitor.own.get(name, [])[1:], NOWHERE, MALFORMED_UUID]:
                fills.append(own | {name: value})
        for name in page.text_params:
            for value in [NUL, LONG[:2000], INVALID_UTF8, HOSTILE["SQL"], HOSTILE["HTML"]]:
                encoded = value if value == INVALID_UTF8 else quote(value, safe="")
                fills.append(own | {name: encoded})
        return [dict(fill) for fill in dict.fromkeys(tuple(fill.items()) for fill in fills)]

    @staticmethod
    def _turned_away(response) -> bool:
        location = response.get("Location", "") if response.status_code == 302 else ""
        return response.status_code in {401, 403, 405} or "/login/" in location

    def discover(self, visitor: Visitor) -> None:
        """GET every page with its primary fill, and note the fields of each form shown."""
        for page in self.pages:
            path = page.fill(self._fills(page, visitor)[0])
            response, text = self._send(visitor, "GET", path)
            if "html" not in response.get("Content-Type", ""):
                continue
            parser = _Forms(path)
            parser.feed(text)
            for method, action, names in parser.forms:
                template = _template_of(action)
                if template is not None:
                    target = self.posted_fields if method == "post" else self.query_names
                    target.setdefault(template, set()).update(names)

    def fuzz(self, visitor: Visitor) -> None:
        self.discover(visitor)
        for page in self.pages:
            fills = self._fills(page, visitor)
            fields = sorted(self.posted_fields.get(page.template) or COMMON_FIELD_NAMES)
            query_names = sorted(
                set(COMMON_QUERY_NAMES) | self.query_names.get(page.template, set())
            )
            # The other client's objects: one round, for what an error page might show.
            rounds = [self.rounds] + [1] * (1 if page.uuid_params else 0)
            for fill, rounds_here in zip(fills, rounds, strict=False):
                self._fuzz_path(visitor, page.fill(fill), fields, query_names, rounds_here)
            for fill in fills[len(rounds) :]:
                self._send(visitor, "GET", page.fill(fill))
                self._post_watched(visitor, page.fill(fill), "")

    def _fuzz_path(
        self,
        visitor: Visitor,
        path: str,
        fields: Sequence[str],
        query_names: Sequence[str],
        rounds: int,
    ) -> None:
        plain_get, _ = self._send(visitor, "GET", path)
        plain_post = self._post_watched(visitor, path, "")
        self._send(visitor, "GET", path + "?" + urlencode(dict.fromkeys(query_names, NUL)))
        self._post_watched(visitor, path, _body([(name, NUL) for name in fields]))
        if self._turned_away(plain_get) and plain_post in {302, 401, 403, 405}:
            return
        values = [*HOSTILE.values(), INVALID_UTF8]
        for round_number in range(rounds):
            query = _body(_rotated(query_names, values, round_number))
            self._send(visitor, "GET", f"{path}?{query}")
            body = _body(_rotated(fields, values, round_number))
            self._post_watched(visitor, path, body)

    def run(self, visitors: Sequence[Visitor]) -> Report:
        for visitor in visitors:
            self.fuzz(visitor)
        return self.report


def every_value_reaches_every_field(rounds: int) -> bool:
    """Whether ``rounds`` rounds give each field every hostile value."""
    return rounds >= len(HOSTILE) + 1
