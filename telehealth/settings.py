"""Settings for the clinic server, driven by environment variables.

Without any variables the server runs on embedded defaults (SQLite, an in-memory channel layer,
Celery on a filesystem broker, emails printed to the console) so the demo clinic needs no
services. ``TELEHEALTH_MODE=production`` switches to production mode, which refuses to start
unless every insecure default has been replaced.
"""

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import redis.exceptions
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from sessions.limits import MAX_DURATION_MINUTES
from telehealth.env import env_bool, env_int, env_json_object, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TELEHEALTH_VAR_DIR", str(BASE_DIR / "var")))

MODE = env_str("TELEHEALTH_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"TELEHEALTH_MODE must be development or production, got {MODE!r}")
PRODUCTION = MODE == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)

# Only used outside production; production refuses to start without its own key.
_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY") or _DEVELOPMENT_SECRET_KEY

SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
_site = urlsplit(SITE_URL)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"{_site.scheme}://{_site.netloc}"])

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin, with a site that refuses signed-in non-admins instead of looping.
    "clinic.admin_site.ClinicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "clinic",
    "sessions.apps.VirtualSessionsConfig",
    "assessments",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that may answer early (the 400 and 503 pages below), so every page
    # has the header.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "telehealth.middleware.SecurityHeadersMiddleware",
    # Before the session (its cookie) and every view: text the database cannot hold.
    "telehealth.middleware.RequestTextMiddleware",
    "telehealth.unavailable.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.TimeZoneMiddleware",
]

ROOT_URLCONF = "telehealth.urls"
WSGI_APPLICATION = "telehealth.wsgi.application"
ASGI_APPLICATION = "telehealth.asgi.application"

# Invalid radio and checkbox groups point each answer to their error (clinic/form_rendering.py).
FORM_RENDERER = "clinic.form_rendering.FormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "telehealth.context_processors.clinic",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
POSTGRESQL_ENGINES = ("django.db.backends.postgresql", "telehealth.postgresql")
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            # Under ASGI each request's synchronous work may run on its own thread, so a
            # persistent connection per thread would leak; PostgreSQL uses a pool instead.
            conn_max_age=0,
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "DATABASE_POOL", default=True
    ):
        # Without a pool every WebSocket consumer opened and closed a PostgreSQL connection
        # per database call, which capped room joins at about 20 a second per process
        # (docs/benchmarks.md, "Signaling").
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10),
            "timeout": env_int("DATABASE_POOL_TIMEOUT_SECONDS", 10),
        }
        # Django's backend, whose pool tries each connection (a round trip) before handing it
        # out, so that one the server ended while it sat in the pool (a restart, a failover,
        # pg_terminate_backend) is replaced instead of failing the request that gets it; at
        # the first broken one it checks them all (telehealth/postgresql).
        DATABASES["default"]["ENGINE"] = "telehealth.postgresql"
    # PostgreSQL cancels any statement of this process running longer (0: never); the visitor
    # is told the clinic is busy (telehealth/unavailable.py). Off by default because Celery
    # workers and migrations read the same settings: set it for the web processes.
    DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 0)
    if DATABASE_STATEMENT_TIMEOUT_MS > 0:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = (
            f"{_options.get('options', '')} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}"
        ).strip()
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "clinic.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction starts, which serializes
                # "check the slot is free, then book it" the way PostgreSQL's exclusion
                # constraint does; WAL lets the web server read while the worker writes.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Under load: wait a bounded time, then say "very busy" (telehealth/unavailable.py) -------
# How long a booking, reschedule or cancellation waits for another change to the same
# clinician's schedule or appointment to finish (normally milliseconds) before giving up.
BOOKING_LOCK_TIMEOUT_MS = env_int("BOOKING_LOCK_TIMEOUT_MS", 5000)
# HTTP requests one server process lets into Django at once; the others wait their turn, in
# order and without holding a thread or a database connection, for up to
# HTTP_QUEUE_TIMEOUT_SECONDS. The default is the pool's size, so that requests wait in this
# queue, not for a pooled connection with the pool's shorter timeout.
HTTP_REQUESTS_AT_ONCE = env_int("HTTP_REQUESTS_AT_ONCE", env_int("DATABASE_POOL_MAX_SIZE", 10))
HTTP_QUEUE_TIMEOUT_SECONDS = env_int("HTTP_QUEUE_TIMEOUT_SECONDS", 60)
# The Retry-After of the "very busy" answer.
BUSY_RETRY_AFTER_SECONDS = env_int("BUSY_RETRY_AFTER_SECONDS", 10)

# --- Live sessions ----------------------------------------------------------------------------
# The room opens this long before the start and closes this long after the planned end.
ROOM_OPENS_MINUTES_BEFORE = env_int("ROOM_OPENS_MINUTES_BEFORE", 15)
ROOM_CLOSES_MINUTES_AFTER = env_int("ROOM_CLOSES_MINUTES_AFTER", 30)
# A client who has not come is late, not absent, until this long after the start: before then
# the clinician cannot end a session nobody was let into (which records a no-show).
ROOM_NO_SHOW_GRACE_MINUTES = env_int("ROOM_NO_SHOW_GRACE_MINUTES", 10)
# The longest a room can be open: the longest service a clinic may set up plus the join window.
ROOM_LONGEST_OPEN_SECONDS = (
    ROOM_OPENS_MINUTES_BEFORE + MAX_DURATION_MINUTES + ROOM_CLOSES_MINUTES_AFTER
) * 60
# Each open room socket refreshes its seat this often; a seat not refreshed for three times as
# long belongs to a consumer that died (its process was killed) and the beat task
# release-stale-seats gives it up, as if that side had left.
ROOM_SEAT_HEARTBEAT_SECONDS = env_int("ROOM_SEAT_HEARTBEAT_SECONDS", 20)
# ICE servers for the browsers. Nothing public is used unless configured here. TURN uses
# coturn's use-auth-secret scheme: credentials derived from a shared secret that expire when
# the appointment's room closes (sessions.room.services.ice_servers).
WEBRTC_STUN_URLS = env_list("WEBRTC_STUN_URLS")
WEBRTC_TURN_URLS = env_list("WEBRTC_TURN_URLS")
WEBRTC_TURN_SECRET = env_str("WEBRTC_TURN_SECRET")
# Signaling limits per WebSocket connection.
SIGNALING_MAX_MESSAGE_BYTES = env_int("SIGNALING_MAX_MESSAGE_BYTES", 64 * 1024)
SIGNALING_MESSAGES_PER_SECOND = env_int("SIGNALING_MESSAGES_PER_SECOND", 20)
SIGNALING_BURST = env_int("SIGNALING_BURST", 100)

# --- Redis: channel layer, cache, broker ----------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CHANNELS_GROUP_EXPIRY_SECONDS = env_int("CHANNELS_GROUP_EXPIRY_SECONDS", ROOM_LONGEST_OPEN_SECONDS)
if CHANNELS_GROUP_EXPIRY_SECONDS < ROOM_LONGEST_OPEN_SECONDS:
    raise ImproperlyConfigured(
        f"CHANNELS_GROUP_EXPIRY_SECONDS ({CHANNELS_GROUP_EXPIRY_SECONDS}) must be at least "
        f"{ROOM_LONGEST_OPEN_SECONDS}: the longest room ({ROOM_OPENS_MINUTES_BEFORE} min before "
        f"the start, a {MAX_DURATION_MINUTES} min service, {ROOM_CLOSES_MINUTES_AFTER} min after) "
        "stays open that long"
    )
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # No client read timeout: redis-py 8 defaults to 5 s, which cuts off
                        # the layer's 5 s blocking reads (BZPOPMIN), so every idle socket
                        # died (django/channels_redis#422).
                        "socket_timeout": None,
                        # redis-py 8 caps an asyncio pool at 100 connections and raises at
                        # once when they are all busy; the layer takes one per command in
                        # flight, so a burst from 100+ sockets killed consumers.
                        "max_connections": env_int("CHANNELS_REDIS_MAX_CONNECTIONS", 1000),
                        # After Redis restarted, each pooled connection fails once ("Connection
                        # closed by server") and redis-py's asyncio client retries nothing by
                        # default: room sockets were refused until every dead connection had
                        # been tried. One retry on a fresh connection instead.
                        "retry_on_error": [redis.exceptions.ConnectionError],
                    }
                ],
                "prefix": env_str("CHANNELS_PREFIX", "telehealth"),
                # channels-redis drops group members this long after they joined, even while
                # connected: a room's group must outlive the longest room.
                "group_expiry": CHANNELS_GROUP_EXPIRY_SECONDS,
                # Counted per server process, not per socket: every socket of a process shares
                # one queue in Redis, and past this many waiting messages frames are dropped
                # silently. 200 rooms negotiating at once queue about 8,400.
                "capacity": env_int("CHANNELS_CAPACITY", 20_000),
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "telehealth"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
# Redis hands an unacknowledged task to another worker once it has been out this long. A
# retry waits in the worker that took it (unacknowledged) for its countdown, so this must be
# longer than the longest retry backoff: 32 s (retry_backoff with max_retries=6: 1, 2, 4, 8, 16,
# 32 s; retry_backoff_max, 600 s, is never reached). Also above a task's usual run time, or a
# task still running is handed out again (each is idempotent, so that only costs work). 60 s:
# it is also how long the tasks of a worker that died whole (machine lost) wait to be rerun.
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 60)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is "control" in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# A task whose pool process died (SIGKILL, out of memory) while running it goes back to the
# queue instead of being acknowledged as failed and dropped: with acks_late alone, a sign-in
# link whose process was killed mid-send was never sent. So every task may run twice, and each
# is safe to (tests/test_task_redelivery.py).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "telehealth")
# Reminder dispatch has a queue of its own: at everyone's 08:00 each beat queues batches that
# take seconds each, and a draft plan, a booking email or a sign-in link must not wait behind
# all of them. A worker started without -Q consumes both queues and takes from them in turn
# (kombu's Redis transport puts the queue it just took from last), so other tasks wait for one
# batch at most; workers started with -Q can be dedicated to either.
REMINDER_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-reminders"
CELERY_TASK_QUEUES = [
    # Each bound to its own exchange by its own name, as Celery declares the default queue
    # when it is left to itself.
    Queue(name, Exchange(name), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, REMINDER_QUEUE)
]
CELERY_TASK_ROUTES = {
    "assessments.tasks.dispatch_reminders": {"queue": REMINDER_QUEUE},
    "assessments.tasks.dispatch_reminder_batch": {"queue": REMINDER_QUEUE},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_BEAT_SCHEDULE: dict = {
    "close-finished-rooms": {
        "task": "sessions.tasks.close_finished_rooms",
        "schedule": 60.0,
    },
    # Room seats whose consumer died without leaving
    # (sessions.room.services.room_seats_release_stale).
    "release-stale-seats": {
        "task": "sessions.tasks.release_stale_seats",
        "schedule": 60.0,
    },
    # Booking emails that did not go out (the broker was down after the commit, or the mail
    # server refused until the task's retries ran out).
    "resend-appointment-emails": {
        "task": "sessions.tasks.resend_appointment_emails",
        "schedule": 60.0,
    },
    # Reminders are rows with a due time; this claims and sends the due ones (no long ETAs:
    # Redis would redeliver a task held past its visibility timeout).
    "dispatch-reminders": {
        "task": "assessments.tasks.dispatch_reminders",
        "schedule": 60.0,
    },
    # Plans whose task was lost when the assessment completed (the broker was down).
    "propose-missing-plans": {
        "task": "assessments.tasks.propose_missing_plans",
        "schedule": 60.0,
    },
    # Program emails that did not go out (as for booking emails above).
    "resend-program-emails": {
        "task": "assessments.tasks.resend_program_emails",
        "schedule": 60.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Creates and checks the schedule file's directory at start (a clear error, not a crash), and
# records each send for /healthz/beat (telehealth/beat.py).
CELERY_BEAT_SCHEDULER = "telehealth.beat:ClinicScheduler"

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Kinetic Knee Clinic <clinic@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "clinic.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "clinic:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# No script of ours reads the CSRF cookie (forms and fetches carry the form's token).
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "telehealth.views.csrf_failure"

# Sign-in links emailed to clients, and how hard password sign-in may be tried.
SIGN_IN_LINK_MINUTES = env_int("SIGN_IN_LINK_MINUTES", 15)
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_IP = env_int("LOGIN_FAILURES_PER_IP", 30)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
SIGN_IN_LINKS_PER_EMAIL_PER_HOUR = env_int("SIGN_IN_LINKS_PER_EMAIL_PER_HOUR", 5)
SIGN_IN_LINKS_PER_IP_PER_HOUR = env_int("SIGN_IN_LINKS_PER_IP_PER_HOUR", 20)
# How many reverse proxies in front of the server append to X-Forwarded-For; 0 trusts none.
NUM_PROXIES = env_int("NUM_PROXIES", 0)

# --- Camera-measured tests -------------------------------------------------------------------
# Pose analysis of the client's camera (the optional "vision" extra). POSE_ANALYSIS=off hides it.
POSE_ANALYSIS_ENABLED = env_bool("POSE_ANALYSIS", default=True)
POSE_MODEL = env_str("POSE_MODEL", "assessments.pose.model.MediaPipePose")
# MediaPipe also measures each frame mirrored and averages the two (the flip test): a left knee
# and a right knee are measured alike, at twice the model's cost (assessments.pose.model).
POSE_FLIP_TEST = env_bool("POSE_FLIP_TEST", default=True)
# Where the media peer runs: "inline" in the web process (the quick start), or "separate":
# processes started with `manage.py runworker media`, reached over the channel layer.
MEDIA_WORKER = env_str("MEDIA_WORKER", "inline")
if MEDIA_WORKER not in {"inline", "separate"}:
    raise ImproperlyConfigured(f"MEDIA_WORKER must be inline or separate, got {MEDIA_WORKER!r}")
MEDIA_CHANNEL = "media"
# Measurements a media process analyses at once, frames per second it analyses, and limits.
MEDIA_MAX_SESSIONS = env_int("MEDIA_MAX_SESSIONS", 4)
MEDIA_ANALYSIS_FPS = env_int("MEDIA_ANALYSIS_FPS", 12)
MEDIA_NO_VIDEO_SECONDS = env_int("MEDIA_NO_VIDEO_SECONDS", 20)
MEDIA_MAX_SECONDS = env_int("MEDIA_MAX_SECONDS", 5 * 60)
# A running measurement's worker says it is alive every MEDIA_HEARTBEAT_SECONDS; one silent for
# MEDIA_WORKER_TIMEOUT_SECONDS has died and its measurement is failed. A measurement ends when
# no panel of its clinician has been open on the assessment for MEDIA_PANEL_GRACE_SECONDS (a
# reload takes less), so nothing is measured unattended.
MEDIA_HEARTBEAT_SECONDS = env_int("MEDIA_HEARTBEAT_SECONDS", 2)
MEDIA_WORKER_TIMEOUT_SECONDS = env_int("MEDIA_WORKER_TIMEOUT_SECONDS", 15)
MEDIA_PANEL_GRACE_SECONDS = env_int("MEDIA_PANEL_GRACE_SECONDS", 10)

# --- Reminders ------------------------------------------------------------------------------------
# Reminders one dispatch task sends at most, and how many such tasks may share a backlog.
REMINDER_BATCH = env_int("REMINDER_BATCH", 500)
REMINDER_PARALLEL_TASKS = env_int("REMINDER_PARALLEL_TASKS", 4)

# --- Guided assessments -------------------------------------------------------------------------
# Overrides of the finding thresholds (assessments/findings.py lists them with their sources),
# e.g. ASSESSMENT_THRESHOLDS='{"faber_difference_cm": 5}'. Unknown names fail the system check.
ASSESSMENT_THRESHOLDS = env_json_object("ASSESSMENT_THRESHOLDS")

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Shown to visitors whose browser has not told us their zone yet.
CLINIC_TIME_ZONE = env_str("CLINIC_TIME_ZONE", "Europe/London")
CLINIC_NAME = env_str("CLINIC_NAME", "Kinetic Knee Clinic")

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic fills STATIC_ROOT for production; elsewhere files are served from their sources.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles"))) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Uploaded files (snapshots of assessments) are health data: they are never served as static
# files, only through views that check access.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# --- Security -------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = False
HSTS_PRELOAD_MINIMUM_SECONDS = 365 * 24 * 60 * 60
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", HSTS_PRELOAD_MINIMUM_SECONDS)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
    if env_bool("BEHIND_TLS_PROXY", default=False):
        # Only trust X-Forwarded-Proto when a proxy that sets it is really in front of us.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}


def production_problems() -> list[str]:
    """Every reason the current settings are unsafe for production (empty when they are safe)."""
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off")
    if (
        SECRET_KEY == _DEVELOPMENT_SECRET_KEY
        or SECRET_KEY.startswith("django-insecure")
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
    ):
        problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the server's host names (no '*')")
    if not DATABASE_URL or DATABASES["default"]["ENGINE"] not in POSTGRESQL_ENGINES:
        problems.append("DATABASE_URL must point to PostgreSQL")
    if not REDIS_URL:
        problems.append("REDIS_URL must be set (channel layer, cache and task broker)")
    if not EMAIL_HOST:
        problems.append("EMAIL_HOST must be set: clients get their links by email")
    if _site.scheme != "https":
        problems.append("SITE_URL must start with https://")
    # HSTS as check --deploy wants it (W004, W005, W021); preload lists require a year.
    if SECURE_HSTS_SECONDS < HSTS_PRELOAD_MINIMUM_SECONDS:
        problems.append(
            f"SECURE_HSTS_SECONDS must be at least {HSTS_PRELOAD_MINIMUM_SECONDS} (a year), "
            f"got {SECURE_HSTS_SECONDS}"
            + (", which turns HSTS off" if SECURE_HSTS_SECONDS <= 0 else "")
        )
    if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
        problems.append("SECURE_HSTS_INCLUDE_SUBDOMAINS must be true")
    if not SECURE_HSTS_PRELOAD:
        problems.append("SECURE_HSTS_PRELOAD must be true")
    if insecure_origins := [o for o in CSRF_TRUSTED_ORIGINS if not o.startswith("https://")]:
        problems.append(
            "CSRF_TRUSTED_ORIGINS must be https:// origins; not " + ", ".join(insecure_origins)
        )
    if WEBRTC_TURN_URLS and len(WEBRTC_TURN_SECRET) < 16:
        problems.append("WEBRTC_TURN_SECRET must be set (16+ characters) when TURN is configured")
    return problems


if PRODUCTION and (_problems := production_problems()):
    raise ImproperlyConfigured(
        "Refusing to start in production mode:\n  - " + "\n  - ".join(_problems)
    )
