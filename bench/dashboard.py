"""Dashboard benchmark: time and SQL queries of each page of the clinician's dashboard, against
real PostgreSQL, with 1,000 clients, 10,000 appointments and 5,000 assessments.

Run from the checkout:

    .venv/bin/python bench/dashboard.py           # full run: 30 timed requests per page
    .venv/bin/python bench/dashboard.py --quick   # a tenth of the data, 10 requests per page

It uses its own database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
telehealth_bench_dashboard): at the start it drops, recreates and migrates it, so reruns are
repeatable, and it refuses a database whose name does not contain "bench". Redis (REDIS_URL)
holds the cache only; the script refuses any database number but 14 and empties that one with
FLUSHDB at the start and the end. No email is sent: the data is bulk-created rather than
approved or booked through the services, and EMAIL_BACKEND is Django's in-memory one all the
same. See docs/benchmarks.md ("Dashboard") for what is measured and how to read the figures.
"""

import argparse
import cProfile
import datetime as dt
import io
import itertools
import json
import math
import os
import platform
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402
    SqlTimer,
    check_services_are_ours,
    code_version,
    cpu_model,
    database_name,
    flush_redis,
    load_average,
    memory_total,
    package_versions,
    percentile,
    recreate_database,
    redis_info,
    scalar,
    set_up_django,
    table,
)

REDIS_DB = 14
set_up_django(
    {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth_bench_dashboard",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "CACHE_PREFIX": "telehealth-bench",
        "CHANNELS_PREFIX": "telehealth-bench",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "CELERY_TASK_DEFAULT_QUEUE": "telehealth-bench",
        "TELEHEALTH_VAR_DIR": str(Path(tempfile.gettempdir()) / "telehealth-bench-dashboard"),
    }
)

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

import dashboard.views.clinician as clinician_views  # noqa: E402
from assessments.findings import Context, findings_derive, thresholds_with  # noqa: E402
from assessments.models import (  # noqa: E402
    DEFAULT_REMINDER_TIME,
    Assessment,
    AssessmentSetting,
    AssessmentStatus,
    Exercise,
    Finding,
    LogSource,
    Plan,
    PlanItem,
    PlanPhase,
    PlanStatus,
    PracticeLog,
    Reminder,
    ReminderStatus,
    ResultValue,
    ValueSource,
)
from assessments.programs.planner import FindingForPlan, LibraryExercise, plan_propose  # noqa: E402
from assessments.programs.reminders import APPOINTMENT_OFFSETS, program_reminders  # noqa: E402
from assessments.programs.services import library_exercise, phase_days  # noqa: E402
from assessments.protocols import ValueAddress, value_clean  # noqa: E402
from assessments.services import finding_row  # noqa: E402
from clinic.models import (  # noqa: E402
    AuditEvent,
    Client,
    Clinician,
    ClinicianNote,
    Consent,
    ConsentDocument,
    ConsentKind,
    DominantLeg,
    Intake,
    Profession,
    Role,
    Sex,
    User,
)
from sessions.booking.slots import local_to_utc  # noqa: E402
from sessions.models import (  # noqa: E402
    Appointment,
    AppointmentStatus,
    ParticipantRole,
    RoomEvent,
    RoomEventKind,
    Service,
    WeeklyHours,
)

# Nothing below sends email; if something did, it would stay in django.core.mail.outbox.
settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

SEED = 20261123
ZONE_NAME = "Europe/London"
ZONE = zoneinfo.ZoneInfo(ZONE_NAME)
PAST_WEEKS = 112  # history: a bit over two years
FUTURE_WEEKS = 8  # bookings ahead
WORK_HOURS = range(8, 18)  # on-the-hour starts, 08:00 to 17:00, Monday to Friday
CLINICIANS_PER_CLINIC = 2
SHARED_CLIENTS = 0.12  # clients who also see the other clinician (30 % of their sessions)
PROGRAM_SINCE = dt.timedelta(days=365)  # plans exist for assessments of the last year
BATCH = 2000
WARM_UPS = 2
SPLIT_REQUESTS = 15


@dataclass(frozen=True)
class Sizes:
    clients: int
    appointments: int
    assessments: int


FULL = Sizes(clients=1000, appointments=10_000, assessments=5000)
QUICK = Sizes(clients=100, appointments=1000, assessments=500)
TINY = Sizes(clients=10, appointments=100, assessments=50)

FIRST_NAMES = (
    "Ana", "Ben", "Cara", "Dan", "Eve", "Farah", "George", "Hana", "Ivan", "Jade", "Kofi",
    "Lena", "Mateo", "Nina", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Will", "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Dmitri", "Elif", "Finn",
    "Grace", "Hugo", "Isla", "Jonas", "Kiran", "Lucia", "Malik", "Noor", "Olga", "Pedro",
    "Ruth", "Sami", "Tomas", "Una", "Viktor", "Wen", "Yara", "Zain",
)  # fmt: skip
SURNAMES = (
    "Silva", "Okafor", "Murphy", "Nguyen", "Kowalski", "Haddad", "Jensen", "Rossi", "Patel",
    "O'Brien", "Fischer", "Moreau", "Tanaka", "Ibrahim", "Costa", "Larsen", "Novak", "Byrne",
    "Schmidt", "Dubois", "Yilmaz", "Khan", "Walsh", "Horvat", "Eriksson", "Mensah", "Garcia",
    "Kaur", "Petrov", "Lindqvist", "Adeyemi", "Brennan", "Castillo", "Dvorak", "Evans",
    "Ferreira", "Grant", "Hughes", "Ito", "Jovanovic", "Keane", "Lopez", "Mazur", "Nowak",
    "Osei", "Popescu", "Quigley", "Reyes", "Santos", "Thompson", "Usman", "Varga", "Wright",
    "Xu", "Young", "Zielinski", "Abbott", "Barker", "Chen", "Doyle", "Ellis", "Flynn",
    "Gallagher", "Hall", "Iqbal", "Johansson", "Kelly", "Lewis", "Morgan", "Nash", "Owens",
    "Price", "Quinlan", "Reid", "Shaw", "Turner", "Upton", "Vaughan", "Ward", "Yates",
)  # fmt: skip
CLINICIAN_NAMES = {
    "big": (("Maya", "Fernandes"), ("Sam", "Okoro")),
    "tiny": (("Lena", "Brooks"), ("Omar", "Haddad")),
}
TIME_ZONES = (
    ("Europe/London", 85),
    ("Europe/Dublin", 5),
    ("Europe/Paris", 6),
    ("America/New_York", 4),
)
CANCEL_REASONS = (
    "",
    "",
    "Unwell today",
    "Work meeting moved",
    "Childcare fell through",
    "Knee feels much better, will rebook",
    "Travelling that week",
)
NOTES = (
    "Reports stairs are easier since the last session; still stiff first thing in the morning.",
    "Discussed running load: keep to 3 × 20 min on flat ground for two more weeks.",
    "Client asked about taping. Explained the evidence; not needed for now.",
    "Left ankle clearly stiffer on the knee-to-wall; calf work is the priority.",
    "Sleep disturbed by pain twice this week; no red flags on questioning.",
    "Good form on the lunge with the mirror cue. Progressing to reverse lunges.",
    "GP letter received: X-ray normal.",
)
SEND_ERRORS = (
    "SMTPException: RCPT TO: 451 Mailbox busy",
    "SMTPRecipientsRefused: 550 5.1.1 user unknown",
    "TimeoutError: timed out",
)
RESULT_NOTES = (
    "Felt a pull behind the knee at the end of range.",
    "Needed two attempts to understand the position.",
    "Much easier than last time, according to the client.",
)


# --- Helpers ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def other_work() -> str:
    """Other benchmark scripts and test runs on the machine (read from /proc; nothing touched)."""
    seen: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            words = [
                w.decode(errors="replace") for w in (entry / "cmdline").read_bytes().split(b"\0")
            ]
        except OSError:
            continue
        words = [w for w in words if w]
        script = next((w for w in words[:4] if re.search(r"bench/\w+\.py$", w)), None)
        if script:
            seen[f"bench/{Path(script).name}"] += 1
        elif any(Path(w).name in {"pytest", "py.test"} or w == "pytest" for w in words[:4]):
            seen["pytest"] += 1
    if not seen:
        return "none seen"
    return ", ".join(
        f"{name} ({count} process{'es' if count > 1 else ''})"
        for name, count in sorted(seen.items())
    )


def machine_description() -> list[str]:
    versions = package_versions(("psycopg", "pygal"))
    return [
        f"CPU: {cpu_model()} x {os.cpu_count()} (os.cpu_count); RAM {memory_total()}; "
        f"load average {load_average()}",
        f"other work seen on the machine: {other_work()}",
        f"PostgreSQL {scalar('SHOW server_version')}; Redis {redis_info()['redis_version']}",
        f"Python {platform.python_version()}, Django {django.get_version()}, {versions}",
        f"Database: {database_name()} on {settings.DATABASES['default']['HOST']}; "
        f"Redis: {settings.REDIS_URL} (cache only)",
    ]


def allocate(total: int, weights: list[float], minimum: int = 0) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder), each at least
    ``minimum``."""
    rest = total - minimum * len(weights)
    assert rest >= 0
    weight_sum = sum(weights)
    exact = [w / weight_sum * rest if weight_sum else 0.0 for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: rest - sum(counts)]:
        counts[i] += 1
    return [minimum + count for count in counts]


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def half_steps(value: float, low: float, high: float) -> float | int:
    """A measurement as the protocol stores it: steps of 0.5 within the field's range."""
    stepped = round(min(high, max(low, value)) * 2) / 2
    return int(stepped) if stepped == int(stepped) else stepped


# --- Data ------------------------------------------------------------------------------------


@dataclass
class ClientData:
    """What the generator keeps per client while it builds the rows."""

    client: Client
    zone: zoneinfo.ZoneInfo
    primary: int
    appointments: list[Appointment] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    adherence: float = 0.6


@dataclass
class Clinic:
    label: str
    sizes: Sizes
    clinicians: list[Clinician]
    clients: list[ClientData]
    typical: ClientData
    most: ClientData
    search: str
    rows: Counter[str]
    seconds: float


@dataclass
class Shared:
    """Rows every clinic uses: the services, consent documents and the exercise library."""

    first_visit: Service
    follow_up: Service
    documents: dict[str, ConsentDocument]
    library: list[LibraryExercise]
    exercises: dict[int, Exercise]
    thresholds: dict[str, Any]


def shared_rows() -> Shared:
    first_visit = Service.objects.create(
        name="Virtual assessment",
        duration_minutes=45,
        buffer_after_minutes=15,
        booking_horizon_days=60,
    )
    follow_up = Service.objects.create(
        name="Follow-up session", duration_minutes=30, buffer_after_minutes=15, position=1
    )
    exercises = {e.pk: e for e in Exercise.objects.filter(is_active=True)}
    library = [library_exercise(e) for e in exercises.values()]
    documents = {d.kind: d for d in ConsentDocument.objects.filter(version="2026-01")}
    return Shared(
        first_visit=first_visit,
        follow_up=follow_up,
        documents=documents,
        library=library,
        exercises=exercises,
        thresholds=thresholds_with(settings.ASSESSMENT_THRESHOLDS),
    )


def work_slots(first_day: dt.date, last_day: dt.date) -> list[dt.datetime]:
    slots = []
    day = first_day
    while day <= last_day:
        if day.weekday() < 5:
            slots += [local_to_utc(day, dt.time(hour), ZONE) for hour in WORK_HOURS]
        day += dt.timedelta(days=1)
    return slots


def make_clinicians(label: str, shared: Shared) -> list[Clinician]:
    password = make_password(None)
    users = User.objects.bulk_create(
        User(
            email=f"{first}.{last}.{label}@bench.example.org".lower(),
            full_name=f"{first} {last}",
            role=Role.CLINICIAN,
            time_zone=ZONE_NAME,
            password=password,
        )
        for first, last in CLINICIAN_NAMES[label][:CLINICIANS_PER_CLINIC]
    )
    clinicians = Clinician.objects.bulk_create(
        Clinician(user=user, profession=Profession.PHYSIOTHERAPIST) for user in users
    )
    WeeklyHours.objects.bulk_create(
        WeeklyHours(clinician=c, weekday=day, starts_at=dt.time(8), ends_at=dt.time(18))
        for c in clinicians
        for day in range(5)
    )
    shared.first_visit.clinicians.add(*clinicians)
    shared.follow_up.clinicians.add(*clinicians)
    return clinicians


def make_clients(label: str, count: int, rng: random.Random) -> list[ClientData]:
    password = make_password(None)
    users = []
    for number in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        address = f"{first}.{last.replace(chr(39), '')}.{label}{number}".lower()
        users.append(
            User(
                email=f"{address}@bench.example.org",
                full_name=f"{first} {last}",
                role=Role.CLIENT,
                time_zone=weighted(rng, TIME_ZONES),
                password=password,
            )
        )
    users = User.objects.bulk_create(users, batch_size=BATCH)
    clients = []
    for number, user in enumerate(users):
        contact = rng.random() < 0.6
        clients.append(
            Client(
                user=user,
                phone=f"+44 7700 9{number % 100000:05d}",
                date_of_birth=dt.date(
                    rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
                ),
                dominant_leg=rng.choice(
                    (DominantLeg.RIGHT, DominantLeg.RIGHT, DominantLeg.LEFT, DominantLeg.UNSURE)
                ),
                sex=rng.choice((Sex.FEMALE, Sex.FEMALE, Sex.MALE, Sex.MALE, Sex.NOT_RECORDED)),
                emergency_contact_name=f"{rng.choice(FIRST_NAMES)} {user.full_name.split()[-1]}"
                if contact
                else "",
                emergency_contact_phone=f"+44 7700 8{number % 100000:05d}" if contact else "",
            )
        )
    clients = Client.objects.bulk_create(clients, batch_size=BATCH)
    return [
        ClientData(
            client=client,
            zone=zoneinfo.ZoneInfo(client.user.time_zone),
            primary=number % CLINICIANS_PER_CLINIC,
            adherence=rng.uniform(0.25, 0.95),
        )
        for number, client in enumerate(clients)
    ]


def place_appointments(
    clients: list[ClientData], total: int, slots: list[dt.datetime], rng: random.Random
) -> list[tuple[ClientData, int, dt.datetime, int]]:
    """(client, clinician number, start, number of the client's session) for ``total`` sessions.

    Each client has an episode of care: a skewed number of sessions (log-normal weights, at
    least one), weekly to monthly, starting anywhere in the timeline. Per clinician a random
    set of distinct hourly slots is drawn, and the clinician's sessions, sorted by when the
    client wanted them, take those slots in order: so no two sessions of a clinician overlap
    (the exclusion constraint), and each client's sessions stay in order and roughly spaced.
    """
    counts = allocate(total, [rng.lognormvariate(0, 0.8) for _ in clients], minimum=1)
    start, end = slots[0], slots[-1]
    length = (end - start).total_seconds()
    wanted: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
    for index, (data, count) in enumerate(zip(clients, counts, strict=True)):
        shared = CLINICIANS_PER_CLINIC > 1 and rng.random() < SHARED_CLIENTS
        interval = rng.choice((7, 7, 14, 14, 21, 28)) * 86400.0
        if count > 1:
            interval = min(interval, length * 0.9 / (count - 1))
        first = rng.uniform(0, length - interval * (count - 1))
        for session in range(count):
            clinician = data.primary
            if shared and rng.random() < 0.3:
                clinician = (clinician + 1) % CLINICIANS_PER_CLINIC
            wanted[clinician].append((first + session * interval, index, session))
    placed = []
    for clinician, sessions in sorted(wanted.items()):
        if len(sessions) > len(slots):
            sys.exit(f"{len(sessions)} sessions for one clinician but only {len(slots)} slots")
        chosen = sorted(rng.sample(range(len(slots)), len(sessions)))
        for (_, index, session), slot in zip(sorted(sessions), chosen, strict=True):
            placed.append((clients[index], clinician, slots[slot], session))
    return placed


def make_intakes(
    clients: list[ClientData],
    first_start: dict[int, dt.datetime],
    now: dt.datetime,
    rng: random.Random,
) -> dict[int, Intake]:
    """One intake per client before the first session (a second for some); red flags for 2 %."""
    rows = []
    red_flagged = []
    for data in clients:
        first = first_start[data.client.pk]
        flag = rng.random() < 0.02
        for repeat in range(2 if rng.random() < 0.3 else 1):
            submitted = min(first - dt.timedelta(days=rng.uniform(1, 10)), now) + dt.timedelta(
                days=120 * repeat
            )
            if submitted > now:
                break
            rows.append(
                Intake(
                    client=data.client,
                    submitted_at=submitted,
                    knee_pain_side=rng.choice(("left", "right", "both")),
                    pain_duration=rng.choice(
                        ("2_to_6_weeks", "6_to_12_weeks", "3_to_12_months", "over_1_year")
                    ),
                    pain_now=rng.randint(1, 7),
                    aggravating_activities=rng.sample(
                        ["stairs", "squatting", "kneeling", "running", "walking", "sitting"],
                        rng.randint(1, 3),
                    ),
                    previous_injuries="Sprained the left ankle playing football years ago."
                    if rng.random() < 0.25
                    else "",
                    knee_giving_way=flag and repeat == 0,
                )
            )
            if flag and repeat == 0:
                data.client.red_flag_raised_at = submitted
                red_flagged.append(data.client)
    rows = Intake.objects.bulk_create(rows, batch_size=BATCH)
    Client.objects.bulk_update(red_flagged, ["red_flag_raised_at"])
    first_intake: dict[int, Intake] = {}
    for intake in rows:
        first_intake.setdefault(intake.client_id, intake)
    return first_intake


def appointment_rows(
    placed: list[tuple[ClientData, int, dt.datetime, int]],
    clinicians: list[Clinician],
    shared: Shared,
    intakes: dict[int, Intake],
    now: dt.datetime,
    rng: random.Random,
) -> list[Appointment]:
    rows = []
    for data, clinician_number, starts_at, session in placed:
        service = shared.first_visit if session == 0 or rng.random() < 0.2 else shared.follow_up
        clinician = clinicians[clinician_number]
        times = service.appointment_times(starts_at)
        fields: dict[str, Any] = {}
        draw = rng.random()
        if times["ends_at"] <= now:
            if draw < 0.80:
                status = AppointmentStatus.COMPLETED
                fields["admitted_at"] = starts_at + dt.timedelta(minutes=rng.uniform(0, 4))
                fields["ended_at"] = times["ends_at"] + dt.timedelta(minutes=rng.uniform(-5, 5))
            elif draw < 0.86:
                status = AppointmentStatus.NO_SHOW
            elif draw < 0.98:
                status = AppointmentStatus.CANCELLED
            else:
                status = AppointmentStatus.NOT_STARTED
        else:
            status = AppointmentStatus.CANCELLED if draw < 0.10 else AppointmentStatus.CONFIRMED
        if status == AppointmentStatus.CANCELLED:
            by_client = rng.random() < 0.8
            fields["cancelled_at"] = min(
                starts_at - dt.timedelta(hours=rng.uniform(2, 96)), now - dt.timedelta(minutes=5)
            )
            fields["cancelled_by"] = data.client.user if by_client else clinician.user
            fields["cancellation_reason"] = rng.choice(CANCEL_REASONS) if by_client else ""
        rows.append(
            Appointment(
                service=service,
                clinician=clinician,
                client=data.client,
                status=status,
                sequence=1 if rng.random() < 0.1 else 0,
                intake=intakes.get(data.client.pk) if session == 0 else None,
                **times,
                **fields,
            )
        )
    rows = Appointment.objects.bulk_create(rows, batch_size=BATCH)
    by_client = {data.client.pk: data for data, *_ in placed}
    for appointment in rows:
        by_client[appointment.client_id].appointments.append(appointment)
    for data in by_client.values():
        data.appointments.sort(key=lambda a: a.starts_at)
    return rows


def make_consents_and_notes(
    clients: list[ClientData],
    clinicians: list[Clinician],
    shared: Shared,
    now: dt.datetime,
    rng: random.Random,
) -> Counter[str]:
    consents, notes = [], []
    for data in clients:
        first = data.appointments[0].starts_at - dt.timedelta(days=rng.uniform(1, 10))
        accepted = min(first, now - dt.timedelta(hours=1))
        kinds = [ConsentKind.TELEHEALTH] + ([ConsentKind.IMAGES] if rng.random() < 0.4 else [])
        for kind in kinds:
            consents.append(
                Consent(
                    client=data.client,
                    document=shared.documents[kind],
                    accepted_at=accepted,
                    accepted_by=data.client.user,
                    signed_name=data.client.user.full_name,
                    ip_address=f"203.0.113.{rng.randint(1, 254)}",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                )
            )
        past = [a for a in data.appointments if a.status == AppointmentStatus.COMPLETED]
        for appointment in rng.sample(past, min(len(past) // 6, 8)):
            notes.append(
                ClinicianNote(
                    client=data.client,
                    author=appointment.clinician.user,
                    body=rng.choice(NOTES),
                    created_at=appointment.ends_at + dt.timedelta(minutes=5),
                )
            )
    Consent.objects.bulk_create(consents, batch_size=BATCH)
    ClinicianNote.objects.bulk_create(notes, batch_size=BATCH)
    return Counter(consents=len(consents), notes=len(notes))


@dataclass
class Profile:
    """A client's movement picture: the worse side of each test and how far off it is."""

    ankle: str
    ktw: float
    ktw_gap: float
    hip: str
    faber: float
    faber_gap: float
    valgus: str
    fppa: float
    fppa_gap: float
    slr: float
    slr_gap: float
    aslr: tuple[int, int]

    @classmethod
    def draw(cls, rng: random.Random) -> "Profile":
        return cls(
            ankle=rng.choice(("left", "right")),
            ktw=rng.uniform(9, 14),
            ktw_gap=rng.uniform(0, 5),
            hip=rng.choice(("left", "right")),
            faber=rng.uniform(9, 15),
            faber_gap=rng.uniform(0, 7),
            valgus=rng.choice(("left", "right")),
            fppa=rng.uniform(3, 13),
            fppa_gap=rng.uniform(0, 12),
            slr=rng.uniform(50, 80),
            slr_gap=rng.uniform(0, 18),
            aslr=(rng.choice((0, 0, 1, 2)), rng.choice((0, 0, 1, 2))),
        )


def assessment_values(
    profile: Profile, progress: float, rng: random.Random
) -> dict[ValueAddress, Any]:
    """Plausible results of one assessment: asymmetries shrink as ``progress`` goes 0 → 1."""
    better = 1 - 0.6 * progress
    values: dict[tuple[str, str, int, str], Any] = {}

    def noise(size: float = 0.7) -> float:
        return rng.gauss(0, size)

    def put(protocol: str, side: str, trial: int, key: str, value: Any) -> None:
        values[(protocol, side, trial, key)] = value

    sides = ("left", "right")
    if rng.random() < 0.9:
        for number, side in enumerate(sides):
            put("aslr", side, 1, "aslr_score", max(0, min(5, round(profile.aslr[number] * better))))
            gap = profile.slr_gap * better if side == profile.hip else 0
            put("aslr", side, 1, "slr_angle_deg", half_steps(profile.slr - gap + noise(2), 0, 120))
            put("aslr", side, 1, "ankle_position", "plantarflexed")
    if rng.random() < 0.6:
        for side in sides:
            worse = side == profile.hip and profile.faber_gap * better > 3
            put("seated_cross_legged", side, 1, "sits_higher", worse)
            put("seated_cross_legged", side, 1, "tightness_felt", worse and rng.random() < 0.5)
    if rng.random() < 0.9:
        for side in sides:
            gap = profile.faber_gap * better if side == profile.hip else 0
            height = half_steps(profile.faber + gap + noise(), 0, 40)
            put("faber", side, 1, "faber_height_cm", height)
            put("faber", side, 1, "knee_above_opposite_leg", height > 20)
            if gap > 4 and rng.random() < 0.3:
                put("faber", side, 1, "pain", rng.randint(1, 4))
                put("faber", side, 1, "pain_location", rng.choice(("groin", "lateral_hip")))
    if rng.random() < 0.9:
        for side in sides:
            put("lunge", side, 1, "task", "forward_lunge")
            for trial in (1, 2, 3):
                gap = profile.fppa_gap * better if side == profile.valgus else 0
                fppa = half_steps(profile.fppa + gap + noise(2), -30, 40)
                put("lunge", side, trial, "fppa_deg", fppa)
                put(
                    "lunge",
                    side,
                    trial,
                    "knee_position",
                    "medial_to_big_toe"
                    if fppa > 16
                    else "over_big_toe"
                    if fppa > 12
                    else "over_mid_foot",
                )
            if profile.fppa + profile.fppa_gap * better > 17 and side == profile.valgus:
                put("lunge", side, 1, "hip_drop", True)
    if rng.random() < 0.95:
        for side in sides:
            gap = profile.ktw_gap * better if side == profile.ankle else 0
            put("knee_to_wall", side, 1, "ktw_cm", half_steps(profile.ktw - gap + noise(), 0, 25))
            put("knee_to_wall", side, 1, "heel_lifted", False)
            put("knee_to_wall", side, 1, "knee_drifted_in", rng.random() < 0.1)
            put("knee_to_wall", side, 1, "footwear", "barefoot")
    if rng.random() < 0.3:
        for side in sides:
            put("modified_thomas", side, 1, "thigh_above_horizontal", rng.random() < 0.3)
            put(
                "modified_thomas",
                side,
                1,
                "knee_angle_deg",
                half_steps(rng.uniform(55, 85), 0, 180),
            )
    if rng.random() < 0.4:
        for side in sides:
            drop = half_steps(rng.uniform(0, 3.5), 0, 10)
            put("single_leg_stance", side, 1, "pelvic_drop", drop > 2)
            put("single_leg_stance", side, 1, "pelvic_drop_cm", drop)
    if not values:  # every completed assessment has at least one result
        put("knee_to_wall", "left", 1, "ktw_cm", half_steps(profile.ktw, 0, 25))
    if rng.random() < 0.1:
        protocol = next(iter(values))[0]
        put(protocol, "left", 1, "notes", rng.choice(RESULT_NOTES))
    cleaned = {}
    for (protocol, side, trial, key), raw in values.items():
        address = ValueAddress(protocol, side, trial, key)
        cleaned[address] = value_clean(address, raw)  # as the assessment form would store it
    return cleaned


def plan_assessments(
    clients: list[ClientData], total: int, now: dt.datetime, rng: random.Random
) -> None:
    """Decide who is assessed when (in memory): in proportion to completed sessions, 70 % during
    a completed video session (linked to it), 30 % in person between sessions."""
    completed = [
        [a for a in d.appointments if a.status == AppointmentStatus.COMPLETED] for d in clients
    ]
    counts = allocate(total, [float(len(c)) for c in completed])
    for data, sessions, count in zip(clients, completed, counts, strict=True):
        if not count:
            continue
        video = min(len(sessions), round(count * 0.7))
        for appointment in rng.sample(sessions, video):
            created = appointment.starts_at + dt.timedelta(minutes=rng.uniform(3, 8))
            data.assessments.append(
                Assessment(
                    client=data.client,
                    clinician=appointment.clinician,
                    appointment=appointment,
                    setting=AssessmentSetting.VIDEO,
                    created_at=created,
                )
            )
        past = [a for a in data.appointments if a.starts_at < now]
        for _ in range(count - video):
            anchor = rng.choice(past).starts_at
            day = (anchor + dt.timedelta(days=rng.randint(1, 6))).astimezone(ZONE).date()
            created = local_to_utc(day, dt.time(rng.randint(9, 16)), ZONE)
            if created > now - dt.timedelta(hours=3):
                created = anchor - dt.timedelta(days=2)
            data.assessments.append(
                Assessment(
                    client=data.client,
                    clinician=data.appointments[0].clinician,
                    setting=AssessmentSetting.IN_PERSON,
                    created_at=created,
                )
            )
        data.assessments.sort(key=lambda a: a.created_at)
        for assessment in data.assessments:
            assessment.status = AssessmentStatus.COMPLETED
            assessment.completed_at = min(
                assessment.created_at + dt.timedelta(minutes=rng.uniform(25, 40)),
                now - dt.timedelta(minutes=1),
            )
            assessment.completed_by = assessment.clinician.user


def choose_clients(
    clients: list[ClientData], clinician: Clinician, now: dt.datetime
) -> tuple[ClientData, ClientData]:
    """The clients whose pages are measured, among those the clinician sees: the one with the
    most history (sessions + assessments), and a typical one (sessions nearest the median of all
    clients, at least two assessments, a program in progress). Both have an approved program
    (forced below), so that their pages take the same code paths."""

    def eligible(data: ClientData, newest: dt.timedelta, oldest: dt.timedelta) -> bool:
        if not any(a.clinician_id == clinician.pk for a in data.appointments):
            return False
        if len(data.assessments) < 2:
            return False
        age = now - data.assessments[-1].completed_at
        return newest <= age <= oldest

    recent = [
        d
        for d in clients
        if eligible(d, dt.timedelta(days=4), PROGRAM_SINCE - dt.timedelta(days=30))
    ]
    if not recent:
        sys.exit("No client with a recent assessment to measure; is the data too small?")
    most = max(recent, key=lambda d: (len(d.appointments) + len(d.assessments), d.client.pk))
    median = statistics.median(len(d.appointments) for d in clients)
    median_assessed = statistics.median(len(d.assessments) for d in clients if d.assessments)
    in_program = [
        d
        for d in clients
        if d is not most and eligible(d, dt.timedelta(days=14), dt.timedelta(days=50))
    ]
    typical = min(
        in_program or [d for d in recent if d is not most] or recent,
        key=lambda d: (
            abs(len(d.appointments) - median),
            abs(len(d.assessments) - median_assessed),
            d.client.pk,
        ),
    )
    return typical, most


def make_assessment_rows(
    clients: list[ClientData], shared: Shared, now: dt.datetime, rng: random.Random
) -> tuple[Counter[str], dict[int, list[FindingForPlan]]]:
    rows = Assessment.objects.bulk_create(
        [a for d in clients for a in d.assessments], batch_size=BATCH
    )
    counts: Counter[str] = Counter(assessments=len(rows))
    counts.update(a.setting for a in rows)
    for_plans: dict[int, list[FindingForPlan]] = {}
    values: list[ResultValue] = []
    findings: list[Finding] = []

    def flush() -> None:
        ResultValue.objects.bulk_create(values, batch_size=BATCH)
        Finding.objects.bulk_create(findings, batch_size=BATCH)
        counts["result values"] += len(values)
        counts["findings"] += len(findings)
        values.clear()
        findings.clear()

    for data in clients:
        profile = Profile.draw(rng)
        context = Context(sex=data.client.sex, thresholds=shared.thresholds)
        total = len(data.assessments)
        for number, assessment in enumerate(data.assessments):
            results = assessment_values(profile, number / max(1, total - 1), rng)
            for position, (address, value) in enumerate(results.items()):
                measured = address.field in {"fppa_deg", "slr_angle_deg"} and rng.random() < 0.3
                values.append(
                    ResultValue(
                        assessment=assessment,
                        protocol=address.protocol,
                        side=address.side,
                        trial=address.trial,
                        field=address.field,
                        value=value,
                        version=2 if rng.random() < 0.1 else 1,
                        source=ValueSource.VIDEO if measured else ValueSource.MANUAL,
                        measurement={
                            "model": "pose_landmarker_lite",
                            "version": "0.10.14",
                            "confidence": round(rng.uniform(0.7, 0.98), 2),
                            "frames": rng.randint(20, 60),
                            "excluded": rng.randint(0, 6),
                        }
                        if measured
                        else {},
                        updated_at=assessment.created_at + dt.timedelta(seconds=20 * position),
                        updated_by=assessment.clinician.user,
                    )
                )
            derived = findings_derive(results, context=context)
            findings.extend(
                finding_row(assessment, finding, position)
                for position, finding in enumerate(derived)
            )
            for_plans[assessment.pk] = [
                FindingForPlan(identity=f.identity, title=f.title, targets=tuple(f.targets))
                for f in derived
            ]
        if len(values) > 20_000:
            flush()
    flush()
    return counts, for_plans


def make_plans(
    clients: list[ClientData],
    measured: set[int],
    for_plans: dict[int, list[FindingForPlan]],
    shared: Shared,
    now: dt.datetime,
    rng: random.Random,
) -> Counter[str]:
    """A plan for every assessment of the last year, proposed by the real planner from the
    stored findings; most approved (then practised and reminded), some left waiting."""
    today = now.astimezone(ZONE).date()
    plans: list[Plan] = []
    proposals = {}
    for data in clients:
        recent = [a for a in data.assessments if a.completed_at >= now - PROGRAM_SINCE]
        for number, assessment in enumerate(recent):
            latest = number == len(recent) - 1
            age = now - assessment.completed_at
            generated = assessment.completed_at + dt.timedelta(seconds=rng.uniform(1, 5))
            approved_at = generated + dt.timedelta(hours=rng.uniform(1, 48))
            if latest and data.client.pk in measured:
                draft = False
                approved_at = min(approved_at, now - dt.timedelta(days=3))
            elif latest and age < dt.timedelta(days=3):
                draft = True
            elif latest and age < dt.timedelta(days=10):
                draft = rng.random() < 0.5
            else:
                draft = rng.random() < (0.04 if latest else 0.06)
            if approved_at > now - dt.timedelta(minutes=5):
                draft = True
            proposal = plan_propose(for_plans[assessment.pk], shared.library)
            summary = proposal.summary
            if proposal.unanswered:
                summary += (
                    " Not answered by an exercise: "
                    + "; ".join(finding.title for finding in proposal.unanswered)
                    + "."
                )
            plan = Plan(
                assessment=assessment,
                client=data.client,
                clinician=assessment.clinician,
                maintenance=proposal.maintenance,
                summary=summary,
                generated_at=generated,
                reassessment_week=proposal.reassessment_week,
            )
            if not draft:
                plan.status = PlanStatus.APPROVED
                plan.approved_at = approved_at
                plan.approved_by = assessment.clinician.user
                plan.starts_on = approved_at.astimezone(data.zone).date() + dt.timedelta(days=1)
                plan.sent_revision = 1
                if rng.random() < 0.3:
                    plan.note = "Little and often: ten minutes a day beats an hour on Sunday."
            plans.append(plan)
            proposals[id(plan)] = proposal
            data.plans.append(plan)
    plans = Plan.objects.bulk_create(plans, batch_size=BATCH)
    # As plan_generate does: a client's draft is superseded by the next plan proposed for them.
    superseded = []
    for data in clients:
        for older, newer in itertools.pairwise(data.plans):
            if older.status == PlanStatus.DRAFT:
                older.status = PlanStatus.SUPERSEDED
                older.superseded_by = newer
                older.superseded_at = newer.generated_at
                superseded.append(older)
    Plan.objects.bulk_update(
        superseded, ["status", "superseded_by", "superseded_at"], batch_size=BATCH
    )
    counts: Counter[str] = Counter(plans=len(plans))
    counts.update(f"plans {p.status}" for p in plans)

    phases: list[PlanPhase] = []
    phase_items: list[tuple[PlanPhase, Any]] = []
    for plan in plans:
        for number, proposed in enumerate(proposals[id(plan)].phases, start=1):
            phase = PlanPhase(
                plan=plan,
                number=number,
                kind=proposed.default.kind,
                first_week=proposed.default.first_week,
                weeks=proposed.default.weeks,
                frequency=proposed.default.frequency,
            )
            phases.append(phase)
            phase_items.append((phase, proposed.items))
    PlanPhase.objects.bulk_create(phases, batch_size=BATCH)
    items: list[PlanItem] = []
    items_of: dict[int, list[PlanItem]] = defaultdict(list)
    for phase, proposed_items in phase_items:
        for position, proposed in enumerate(proposed_items):
            exercise = shared.exercises[proposed.exercise.id]
            item = PlanItem(
                phase=phase,
                exercise=exercise,
                position=position,
                sets=exercise.sets,
                reps=exercise.reps,
                hold_seconds=exercise.hold_seconds,
                findings=[{"identity": f.identity, "title": f.title} for f in proposed.findings],
            )
            items.append(item)
            items_of[id(phase)].append(item)
    PlanItem.objects.bulk_create(items, batch_size=BATCH)
    counts["plan phases"] = len(phases)
    counts["plan items"] = len(items)
    phases_of: dict[int, list[PlanPhase]] = defaultdict(list)
    for phase in phases:
        phases_of[phase.plan_id].append(phase)

    # Practice while each approved plan was the client's current program; program reminders
    # as plan_approve plans them, sent up to now (a few failed), cancelled once a newer program
    # replaced them, pending ahead.
    logs: list[PracticeLog] = []
    replaced_at: dict[int, dt.datetime | None] = {}
    for data in clients:
        approved = sorted(
            (p for p in data.plans if p.status == PlanStatus.APPROVED), key=lambda p: p.approved_at
        )
        for number, plan in enumerate(approved):
            following = approved[number + 1] if number + 1 < len(approved) else None
            replaced_at[plan.pk] = following.approved_at if following else None
            until = (
                today
                if following is None
                else min(today, following.starts_on - dt.timedelta(days=1))
            )
            for phase in phases_of[plan.pk]:
                for day in phase_days(phase, plan.starts_on):
                    if day > until:
                        break
                    week = (day - plan.starts_on).days // 7 + 1
                    chance = data.adherence * max(0.3, 1 - 0.05 * (week - 1))
                    for item in items_of[id(phase)]:
                        if rng.random() >= chance:
                            continue
                        done_at = local_to_utc(
                            day, dt.time(rng.randint(7, 21), rng.choice((0, 15, 30, 45))), data.zone
                        )
                        if done_at > now:
                            continue
                        logs.append(
                            PracticeLog(
                                plan=plan,
                                item=item,
                                day=day,
                                done_at=done_at,
                                source=LogSource.PAGE if rng.random() < 0.7 else LogSource.EMAIL,
                            )
                        )
        if len(logs) > 20_000:
            PracticeLog.objects.bulk_create(logs, batch_size=BATCH)
            counts["practice logs"] += len(logs)
            logs.clear()
    PracticeLog.objects.bulk_create(logs, batch_size=BATCH)
    counts["practice logs"] += len(logs)

    reminders: list[Reminder] = []
    approved_plans = (
        Plan.objects.filter(status=PlanStatus.APPROVED, pk__in=replaced_at)
        .select_related("client__user")
        .prefetch_related("phases")
    )
    for plan in approved_plans:
        zone = zoneinfo.ZoneInfo(plan.client.time_zone)
        for planned in program_reminders(plan, local_time=DEFAULT_REMINDER_TIME, zone=zone):
            if planned.due_at <= plan.approved_at:
                continue
            reminders.append(
                reminder_row(
                    client=plan.client,
                    plan=plan,
                    kind=planned.kind,
                    due_at=planned.due_at,
                    day=planned.day,
                    phase_number=planned.phase_number,
                    created_at=plan.approved_at,
                    replaced_at=replaced_at[plan.pk],
                    now=now,
                    rng=rng,
                )
            )
    Reminder.objects.bulk_create(reminders, batch_size=BATCH)
    counts.update(f"program reminders {r.status}" for r in reminders)
    return counts


def reminder_row(
    *,
    client: Client,
    due_at: dt.datetime,
    created_at: dt.datetime,
    replaced_at: dt.datetime | None,
    now: dt.datetime,
    rng: random.Random,
    **fields: Any,
) -> Reminder:
    reminder = Reminder(
        client=client, due_at=due_at, next_attempt_at=due_at, created_at=created_at, **fields
    )
    if replaced_at is not None and due_at > replaced_at:
        reminder.status = ReminderStatus.CANCELLED
    elif due_at > now:
        reminder.status = ReminderStatus.PENDING
    elif rng.random() < 0.03:
        reminder.status = ReminderStatus.FAILED
        reminder.attempts = 5
        reminder.last_error = rng.choice(SEND_ERRORS)
        reminder.next_attempt_at = due_at + dt.timedelta(minutes=15)
    else:
        reminder.status = ReminderStatus.SENT
        reminder.attempts = 1
        reminder.sent_at = due_at + dt.timedelta(seconds=rng.uniform(3, 55))
    return reminder


def make_appointment_reminders(
    appointments: list[Appointment], now: dt.datetime, rng: random.Random
) -> Counter[str]:
    """24 h and 1 h before each live session, as the sync plans them (at most 25 h ahead)."""
    rows = []
    for appointment in appointments:
        if appointment.status == AppointmentStatus.CANCELLED:
            continue
        if appointment.starts_at > now + dt.timedelta(hours=25):
            continue
        for kind, offset in APPOINTMENT_OFFSETS.items():
            due = appointment.starts_at - offset
            rows.append(
                reminder_row(
                    client=appointment.client,
                    appointment=appointment,
                    kind=kind,
                    due_at=due,
                    created_at=appointment.starts_at - dt.timedelta(hours=25),
                    replaced_at=None,
                    now=now,
                    rng=rng,
                )
            )
    Reminder.objects.bulk_create(rows, batch_size=BATCH)
    return Counter(f"appointment reminders {r.status}" for r in rows)


def make_room_events(appointments: list[Appointment], rng: random.Random) -> int:
    """What the room records for each session that took place (or should have)."""
    rows = []

    def event(
        appointment: Appointment,
        kind: str,
        at: dt.datetime,
        role: str = "",
        user: User | None = None,
        **detail: Any,
    ) -> None:
        rows.append(
            RoomEvent(
                appointment=appointment, kind=kind, role=role, user=user, at=at, detail=detail
            )
        )

    minute = dt.timedelta(minutes=1)
    for a in appointments:
        clinician, client = a.clinician.user, a.client.user
        staff, person = ParticipantRole.CLINICIAN, ParticipantRole.CLIENT
        if a.status == AppointmentStatus.COMPLETED:
            event(
                a, RoomEventKind.JOINED, a.starts_at - rng.uniform(1, 5) * minute, staff, clinician
            )
            event(a, RoomEventKind.JOINED, a.starts_at - rng.uniform(0, 3) * minute, person, client)
            event(a, RoomEventKind.ADMITTED, a.admitted_at, staff, clinician)
            event(
                a, RoomEventKind.CONNECTED, a.admitted_at + dt.timedelta(seconds=3), person, client
            )
            if rng.random() < 0.15:
                middle = a.starts_at + rng.uniform(10, 30) * minute
                event(a, RoomEventKind.LEFT, middle, person, client)
                event(a, RoomEventKind.JOINED, middle + 0.5 * minute, person, client)
                event(a, RoomEventKind.CONNECTED, middle + 0.6 * minute, person, client)
            event(a, RoomEventKind.ENDED, a.ended_at, staff, clinician)
            event(a, RoomEventKind.LEFT, a.ended_at + dt.timedelta(seconds=2), person, client)
            event(a, RoomEventKind.LEFT, a.ended_at + dt.timedelta(seconds=5), staff, clinician)
        elif a.status == AppointmentStatus.NO_SHOW:
            event(a, RoomEventKind.JOINED, a.starts_at - 2 * minute, staff, clinician)
            event(a, RoomEventKind.LEFT, a.starts_at + 15 * minute, staff, clinician)
            event(a, RoomEventKind.CLOSED, a.ends_at + 30 * minute, outcome=a.status)
        elif a.status == AppointmentStatus.NOT_STARTED:
            event(a, RoomEventKind.JOINED, a.starts_at - 2 * minute, person, client)
            event(a, RoomEventKind.LEFT, a.starts_at + 20 * minute, person, client)
            event(a, RoomEventKind.CLOSED, a.ends_at + 30 * minute, outcome=a.status)
    RoomEvent.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def build_clinic(label: str, sizes: Sizes, shared: Shared, now: dt.datetime) -> Clinic:
    started = time.perf_counter()
    rng = random.Random(f"{SEED}:{label}:{sizes.clients}")
    today = now.astimezone(ZONE).date()
    first_day = today - dt.timedelta(weeks=PAST_WEEKS, days=today.weekday())
    slots = work_slots(first_day, today + dt.timedelta(weeks=FUTURE_WEEKS))
    clinicians = make_clinicians(label, shared)
    clients = make_clients(label, sizes.clients, rng)
    placed = place_appointments(clients, sizes.appointments, slots, rng)
    first_start: dict[int, dt.datetime] = {}
    for data, _, starts_at, _ in sorted(placed, key=lambda p: p[2]):
        first_start.setdefault(data.client.pk, starts_at)
    intakes = make_intakes(clients, first_start, now, rng)
    appointments = appointment_rows(placed, clinicians, shared, intakes, now, rng)
    rows: Counter[str] = Counter(
        clinicians=len(clinicians), clients=len(clients), appointments=len(appointments)
    )
    rows.update(f"appointments {a.status}" for a in appointments)
    rows["intakes"] = Intake.objects.filter(client__in=[d.client for d in clients]).count()
    rows.update(make_consents_and_notes(clients, clinicians, shared, now, rng))
    plan_assessments(clients, sizes.assessments, now, rng)
    typical, most = choose_clients(clients, clinicians[0], now)
    assessment_counts, for_plans = make_assessment_rows(clients, shared, now, rng)
    rows.update(assessment_counts)
    rows.update(
        make_plans(clients, {typical.client.pk, most.client.pk}, for_plans, shared, now, rng)
    )
    rows.update(make_appointment_reminders(appointments, now, rng))
    rows["room events"] = make_room_events(appointments, rng)
    return Clinic(
        label=label,
        sizes=sizes,
        clinicians=clinicians,
        clients=clients,
        typical=typical,
        most=most,
        # A surname: matches a few clients in a big clinic, at least the typical one in any.
        search=typical.client.user.full_name.split()[-1],
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def vacuum_analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def describe_clinic(clinic: Clinic) -> list[str]:
    r = clinic.rows
    viewer = clinic.clinicians[0]
    mine = Appointment.objects.filter(clinician=viewer)
    lines = [
        f"{clinic.label} clinic ({clinic.sizes.clients} clients requested), "
        f"built in {clinic.seconds:.1f} s:",
        f"  {r['clinicians']} clinicians, {r['clients']} clients, {r['intakes']} intakes, "
        f"{r['consents']} consents, {r['notes']} clinician notes",
        f"  {r['appointments']} appointments: "
        + ", ".join(
            f"{r[f'appointments {s}']} {s}"
            for s in AppointmentStatus.values
            if r[f"appointments {s}"]
        )
        + f"; {r['room events']} room events",
        f"  {r['assessments']} assessments ({r['video']} video, {r['in_person']} in person), all "
        f"completed; {r['result values']} result values, {r['findings']} findings",
        f"  {r['plans']} plans ({r['plans approved']} approved, {r['plans draft']} waiting, "
        f"{r['plans superseded']} superseded), "
        f"{r['plan phases']} phases, {r['plan items']} items, {r['practice logs']} practice logs",
        "  reminders: program "
        + ", ".join(f"{r[f'program reminders {s}']} {s}" for s in ReminderStatus.values)
        + "; appointment "
        + ", ".join(f"{r[f'appointment reminders {s}']} {s}" for s in ReminderStatus.values),
        f"  measured as {viewer.user.full_name}: sees "
        f"{Client.objects.filter(appointments__clinician=viewer).distinct().count()} clients, "
        f"{mine.count()} appointments, "
        f"{Plan.objects.filter(clinician=viewer, status=PlanStatus.DRAFT).count()} plans waiting",
    ]
    for name, data in (("typical", clinic.typical), ("most history", clinic.most)):
        plan = max(data.plans, key=lambda p: p.generated_at)
        lines.append(
            f"  {name} client: {data.client.user.full_name}, "
            f"{len(data.appointments)} appointments, {len(data.assessments)} assessments, "
            f"{ResultValue.objects.filter(assessment__client=data.client).count()} "
            "result values, "
            f"{RoomEvent.objects.filter(appointment__client=data.client).count()} room events, "
            f"{Reminder.objects.filter(client=data.client).count()} reminders; "
            f"current plan approved {plan.approved_at:%Y-%m-%d}, "
            f"{PracticeLog.objects.filter(plan=plan).count()} practice logs"
        )
    lines.append(f"  client search term: {clinic.search!r}")
    return lines


# --- Measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    url: str
    htmx: bool = False  # requested as htmx does (HX-Request: true)


def pages_of(clinic: Clinic) -> list[Page]:
    clients = reverse("dashboard:clients")
    most = reverse("dashboard:client_record", args=[clinic.most.client.uuid])
    # The most-history client's session with the most room events (what opening its row loads).
    busiest = (
        Appointment.objects.filter(client=clinic.most.client)
        .annotate(events=Count("room_events"))
        .order_by("-events", "-starts_at")
        .first()
    )
    return [
        Page("home", "home /clinic/", reverse("dashboard:clinician_home")),
        Page("clients_next", "clients ?sort=next", f"{clients}?sort=next"),
        Page(
            "clients_search",
            "clients ?q=<surname>",
            f"{clients}?{urllib.parse.urlencode({'q': clinic.search})}",
        ),
        Page("plans", "plans queue /clinic/plans/", reverse("dashboard:plans_waiting")),
        Page(
            "client_typical",
            "client page, typical",
            reverse("dashboard:client_record", args=[clinic.typical.client.uuid]),
        ),
        Page("client_most", "client page, most history", most),
        Page("client_most_all", "client page, most history, ?all=1", f"{most}?all=1"),
        Page(
            "room_events",
            "room events of one session (htmx)",
            reverse("dashboard:room_events", args=[clinic.most.client.uuid, busiest.uuid]),
            htmx=True,
        ),
    ]


@dataclass
class Target:
    dataset: str
    page: Page
    browser: HttpClient
    times: list[float] = field(default_factory=list)
    sql_times: list[float] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    size: int = 0
    shown: str = ""
    empty: bool = False  # a list page that listed nothing


def browser_for(clinic: Clinic) -> HttpClient:
    browser = HttpClient()
    browser.force_login(clinic.clinicians[0].user)
    return browser


def fetch(target: Target) -> Any:
    headers = {"HX-Request": "true"} if target.page.htmx else {}
    response = target.browser.get(target.page.url, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{target.page.url} answered {response.status_code}")
    return response


def between(html: str, start: str, end: str) -> str:
    return html.split(start, 1)[1].split(end, 1)[0] if start in html else ""


def shown(key: str, html: str) -> str:
    """What the page showed, counted in its HTML (rows, charts) to tell rendering from data."""
    if key == "home":
        today = between(html, 'id="today-heading"', 'id="week-heading"').count("data-appointment=")
        week = between(html, 'id="week-heading"', 'id="missed-heading"').count("data-appointment=")
        missed = between(html, 'id="missed-heading"', "</section>").count("<tr><td>")
        waiting = re.search(r"(\d+) plans? waiting", html)
        plans = waiting.group(1) if waiting else 0
        return f"{today} today, {week} this week, {missed} missed, {plans} plans waiting"
    if key.startswith("clients"):
        rows = len(re.findall(r'<td><a href="/clinic/clients/[0-9a-f-]+/">', html))
        pages = re.search(r"Page \d+ of (\d+)", html)
        return f"{rows} rows, {pages.group(1) if pages else 1} page(s)"
    if key == "room_events":
        return f"{html.count('<li><time')} room events"
    if key == "plans":
        pages = re.search(r"Page \d+ of (\d+)", html)
        return f"{html.count('data-plan=')} plans, {pages.group(1) if pages else 1} page(s)"
    appointments = (
        between(html, 'id="appointments-heading"', 'id="reminders-heading"').count("</tr>") - 1
    )
    assessments = between(html, 'id="assessments-heading"', 'id="findings-heading"').count(
        'href="/assessments/'
    )
    charts = html.count('<figure class="chart"')
    # Rows with room events say how many; the events load when a row is opened.
    with_events = html.count('class="room-events-row"')
    latest = re.search(r"The charts show the latest (\d+) of (\d+) assessments", html)
    reminders = between(html, 'id="reminders-heading"', 'id="consents-heading"').count("</tr>") - 1
    return (
        f"{max(0, appointments)} appointments ({with_events} with room events), {assessments} "
        f"assessments, {charts} charts"
        + (f" (latest {latest.group(1)} of {latest.group(2)})" if latest else "")
        + f", {max(0, reminders)} reminders"
    )


def prepare(targets: list[Target]) -> None:
    for target in targets:
        for _ in range(WARM_UPS):
            fetch(target)
        with CaptureQueriesContext(connection) as captured:
            response = fetch(target)
        target.queries = [q["sql"] for q in captured.captured_queries]
        target.size = len(response.content)
        html = response.content.decode()
        target.shown = shown(target.page.key, html)
        target.empty = (target.page.key == "plans" and "data-plan=" not in html) or (
            target.page.key.startswith("clients") and 'href="/clinic/clients/' not in html
        )


def measure(targets: list[Target], repetitions: int, seed: int) -> None:
    """``repetitions`` rounds; in each, every target once timed and once with its SQL timed, in
    a shuffled order, so that load from other users of the machine falls on all alike."""
    prepare(targets)
    order = random.Random(seed)
    for _ in range(repetitions):
        shuffled = list(targets)
        order.shuffle(shuffled)
        for target in shuffled:
            started = time.perf_counter()
            fetch(target)
            target.times.append(time.perf_counter() - started)
        order.shuffle(shuffled)
        for target in shuffled:
            with SqlTimer() as sql:
                fetch(target)
            target.sql_times.append(sql.seconds)


def report_targets(title: str, targets: list[Target]) -> None:
    print()
    print(title)
    rows = []
    for t in targets:
        rows.append(
            [
                f"{t.dataset}: {t.page.label}",
                str(len(t.queries)),
                ms(statistics.median(t.times)),
                ms(percentile(t.times, 0.90)),
                ms(percentile(t.times, 0.95)),
                ms(min(t.times)),
                ms(statistics.median(t.sql_times)),
                f"{t.size:,}",
                t.shown,
            ]
        )
    print(
        table(
            ["page", "queries", "median ms", "p90", "p95", "min", "SQL ms", "bytes", "shown"],
            rows,
            text=(0, 8),
        )
    )


def report_comparison(
    tiny_alone: dict[str, Target], tiny: dict[str, Target], big: dict[str, Target]
) -> bool:
    print()
    print("Big vs tiny, measured interleaved in the same rounds (ratio of medians):")
    rows = []
    same = True
    empty_pages = []
    for key, b in big.items():
        t, alone = tiny[key], tiny_alone[key]
        # An empty list runs one statement fewer: Django does not query the rows of an empty
        # page. Anything else must run the same statements at every size.
        most = max(len(x.queries) for x in (alone, t, b))
        fewer = [x for x in (alone, t, b) if len(x.queries) == most - 1 and x.empty]
        same = same and len(fewer) + sum(len(x.queries) == most for x in (alone, t, b)) == 3
        if fewer:
            empty_pages.append(b.page.label)
        rows.append(
            [
                b.page.label,
                f"{len(alone.queries)} / {len(t.queries)} / {len(b.queries)}",
                ms(statistics.median(alone.times)),
                ms(statistics.median(t.times)),
                ms(statistics.median(b.times)),
                f"{statistics.median(b.times) / statistics.median(t.times):.2f}x",
                f"{statistics.median(b.times) / statistics.median(alone.times):.2f}x",
            ]
        )
    print(
        table(
            [
                "page",
                "queries tiny alone / tiny / big",
                "tiny alone ms",
                "tiny ms",
                "big ms",
                "big / tiny",
                "big / tiny alone",
            ],
            rows,
        )
    )
    print(
        "   SQL queries per page: "
        + (
            "the same with the tiny and the big data on every page that shows rows"
            if same
            else "DIFFER (see above)"
        )
    )
    if empty_pages:
        print(
            "   (an empty list, with nothing to show, runs one statement fewer: "
            + ", ".join(empty_pages)
            + ")"
        )
    if not same:
        for key, b in big.items():
            extra = [q[:100] for q in b.queries if q not in tiny[key].queries]
            if len(b.queries) != len(tiny[key].queries):
                print(f"   {key}: big-only statements: {extra[:5]}")
    return same


# --- Where the time goes ---------------------------------------------------------------------

STEPS = (
    "client_get_for_viewer",
    "client_record_viewed",
    "client_record_for_clinician",
    "progress_charts",
    "adherence_chart",
    "session_room_events",
    "clinician_overview",
    "clients_search",
    "plans_waiting_for",
    "render",
)


@contextmanager
def timed_steps(sql: SqlTimer) -> Iterator[dict[str, list[float]]]:
    """Wrap the functions the dashboard views call (in the view module's namespace only, for
    the duration of the block) to add up wall time and SQL time per step."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    originals: dict[str, Any] = {}

    def wrap(name: str, original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started, sql_before = time.perf_counter(), sql.seconds
            try:
                return original(*args, **kwargs)
            finally:
                spent[name][0] += time.perf_counter() - started
                spent[name][1] += sql.seconds - sql_before

        return wrapper

    for name in STEPS:
        originals[name] = getattr(clinician_views, name)
        setattr(clinician_views, name, wrap(name, originals[name]))

    paginator = clinician_views.Paginator

    class TimedPaginator(paginator):  # type: ignore[misc, valid-type]
        def get_page(self, number: Any) -> Any:
            started, sql_before = time.perf_counter(), sql.seconds
            try:
                return super().get_page(number)
            finally:
                spent["Paginator.get_page"][0] += time.perf_counter() - started
                spent["Paginator.get_page"][1] += sql.seconds - sql_before

    clinician_views.Paginator = TimedPaginator
    try:
        yield spent
    finally:
        clinician_views.Paginator = paginator
        for name, original in originals.items():
            setattr(clinician_views, name, original)


def split_page(target: Target, requests: int) -> dict[str, tuple[float, float]]:
    """Median wall and SQL milliseconds per step of the view, over ``requests`` requests."""
    per_step: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(requests):
        with SqlTimer() as sql, timed_steps(sql) as spent:
            started = time.perf_counter()
            fetch(target)
            total = time.perf_counter() - started
        inside = sum(wall for wall, _ in spent.values())
        inside_sql = sum(s for _, s in spent.values())
        for name, (wall, s) in spent.items():
            per_step[name].append((wall, s))
        per_step["everything else"].append((total - inside, sql.seconds - inside_sql))
        per_step["whole request"].append((total, sql.seconds))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(s for _, s in values))
        for name, values in per_step.items()
    }


def report_splits(targets: list[Target], requests: int) -> None:
    print()
    print(
        f"Where the time goes (big data, median of {requests} requests per page; wall ms, SQL ms "
        "inside it in brackets; 'everything else' is middleware, session and user lookup, the "
        "view's own code and the test client):"
    )
    for target in targets:
        split = split_page(target, requests)
        order = [n for n in (*STEPS, "Paginator.get_page") if n in split] + ["everything else"]
        parts = [f"{name} {ms(split[name][0])} ({ms(split[name][1])})" for name in order]
        total = split["whole request"]
        print(
            f"   {target.page.label}: {ms(total[0])} ms ({ms(total[1])} SQL) = " + ", ".join(parts)
        )


def statement_summary(sql: str) -> str:
    """A statement in a few words: its verb, tables, and the start of its WHERE clause."""
    text = re.sub(r"\s+", " ", sql).strip()
    verb = text.split(" ", 1)[0]
    if verb not in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
        return text[:60]
    tables = list(dict.fromkeys(re.findall(r'(?:FROM|JOIN|INTO|UPDATE) "?(\w+)"?', text)))
    where = re.search(r" WHERE (.*?)(?: GROUP BY | ORDER BY | LIMIT |$)", text)
    condition = re.sub(r'"\w+"\.', "", where.group(1))[:70] if where else ""
    aggregate = " (count)" if "COUNT(" in text.upper()[:80] else ""
    return f"{verb}{aggregate} {', '.join(tables)}" + (f" WHERE {condition}" if condition else "")


def report_statements(target: Target, requests: int) -> None:
    """Each statement of one page: median time and rows, over ``requests`` requests."""
    runs: list[list[tuple[str, float, int]]] = []
    for _ in range(requests):
        with SqlTimer(log=True) as sql:
            fetch(target)
        runs.append(sql.statements)
    print()
    print(
        f"SQL statements of {target.dataset}: {target.page.label} (median of {requests} requests):"
    )
    rows = []
    for number, first in enumerate(runs[0]):
        times = [run[number][1] for run in runs if len(run) > number]
        rows.append(
            [
                str(number + 1),
                statement_summary(first[0]),
                ms(statistics.median(times)),
                str(first[2]),
            ]
        )
    print(table(["#", "statement", "median ms", "rows"], rows, text=(1,)))


def appointment_scans(sql: str) -> tuple[list[str], float]:
    """How PostgreSQL read the appointments table for one statement (EXPLAIN ANALYZE): each
    scan node on it with the rows it returned and dropped, and the execution time."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):  # depends on how the driver decodes json
        plan = json.loads(plan)
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "virtual_sessions_appointment":
            label = node["Node Type"]
            index = node.get("Index Name") or next(
                (child["Index Name"] for child in node.get("Plans", []) if "Index Name" in child),
                None,
            )
            if index:
                label += f" on {index}"
            label += f": {node.get('Actual Rows', 0) * node.get('Actual Loops', 1)} rows"
            if node.get("Rows Removed by Filter"):
                label += f", {node['Rows Removed by Filter']} read and dropped by filter"
            scans.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return scans, plan[0]["Execution Time"]


def report_appointment_scans(targets: list[Target]) -> None:
    print()
    print("How the appointments table is read (EXPLAIN ANALYZE of each statement touching it):")
    for target in targets:
        for number, sql in enumerate(target.queries, start=1):
            if "virtual_sessions_appointment" not in sql or not sql.startswith("SELECT"):
                continue
            scans, execution = appointment_scans(sql)
            print(
                f"   {target.dataset}: {target.page.label}, statement {number} "
                f"({statement_summary(sql)[:48]}…): {'; '.join(scans)}; executed in "
                f"{execution:.1f} ms"
            )


def profile_page(target: Target, requests: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        fetch(target)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    app_code = rf"{re.escape(str(ROOT))}/(dashboard|assessments|sessions|clinic)/"
    stats.sort_stats("cumulative").print_stats(app_code, 20)
    stats.sort_stats("tottime").print_stats(15)
    print()
    print(
        f"cProfile of {requests} requests of {target.dataset}: {target.page.label} (the app's "
        "functions by cumulative time, then everything by own time; times include the "
        "profiler's overhead):"
    )
    print(re.sub(r"\n{3,}", "\n\n", out.getvalue()))


# --- Main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the data, 10 requests per page"
    )
    parser.add_argument(
        "--repetitions", type=int, help="timed requests per page (default 30, quick 10)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the slowest page"
    )
    arguments = parser.parse_args()
    sizes = QUICK if arguments.quick else FULL
    repetitions = arguments.repetitions or (10 if arguments.quick else 30)

    check_services_are_ours(REDIS_DB)
    started = time.perf_counter()
    recreate_database()
    call_command("migrate", interactive=False, verbosity=0)
    flush_redis(REDIS_DB)
    migrated = time.perf_counter() - started

    print("Dashboard benchmark" + (" (quick)" if arguments.quick else ""))
    for line in machine_description():
        print(f"  {line}")
    print(
        f"  big data: {sizes.clients} clients, {sizes.appointments} appointments, "
        f"{sizes.assessments} assessments; tiny data: {TINY.clients} clients, "
        f"{TINY.appointments} appointments, {TINY.assessments} assessments"
    )
    print(
        f"  {repetitions} timed requests per page and data set (after {WARM_UPS} warm-ups), each "
        f"round also one request with its SQL timed; DEBUG={settings.DEBUG}; "
        f"email: {settings.EMAIL_BACKEND}"
    )
    print(f"  {code_version()}; database recreated and migrated in {migrated:.1f} s")

    now = timezone.now()
    shared = shared_rows()

    # 1. The tiny clinic alone in the database.
    tiny = build_clinic("tiny", TINY, shared, now)
    vacuum_analyze()
    print()
    for line in describe_clinic(tiny):
        print(f"  {line}")
    tiny_browser = browser_for(tiny)
    alone = [Target("tiny alone", page, tiny_browser) for page in pages_of(tiny)]
    measure(alone, repetitions, SEED)
    report_targets("1. Tiny data alone in the database", alone)

    # 2. The big clinic added; both measured interleaved.
    big = build_clinic("big", sizes, shared, now)
    started = time.perf_counter()
    vacuum_analyze()
    print()
    for line in describe_clinic(big):
        print(f"  {line}")
    print(
        f"  VACUUM ANALYZE took {time.perf_counter() - started:.1f} s; "
        f"load average {load_average()}"
    )
    big_browser = browser_for(big)
    tiny_targets = [Target("tiny", page, tiny_browser) for page in pages_of(tiny)]
    big_targets = [Target("big", page, big_browser) for page in pages_of(big)]
    measure(tiny_targets + big_targets, repetitions, SEED + 1)
    report_targets("2. Tiny and big data together, interleaved", tiny_targets + big_targets)
    same = report_comparison(
        {t.page.key: t for t in alone},
        {t.page.key: t for t in tiny_targets},
        {t.page.key: t for t in big_targets},
    )

    scanned = ("home", "clients_next")
    report_appointment_scans([t for t in tiny_targets + big_targets if t.page.key in scanned])
    report_splits(big_targets, min(SPLIT_REQUESTS, repetitions))
    slowest = max(big_targets, key=lambda t: statistics.median(t.times))
    report_statements(slowest, min(SPLIT_REQUESTS, repetitions))
    if arguments.profile:
        profile_page(slowest, 10)

    audit = AuditEvent.objects.filter(object_type="client").count()
    print()
    print(
        f"  {audit} audit rows written by the client pages (one per view); emails sent: "
        f"{len(getattr(mail, 'outbox', []))}; load average at the end {load_average()}; "
        f"other work seen: {other_work()}"
    )
    flush_redis(REDIS_DB)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
