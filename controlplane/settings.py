"""Paddock settings. Read only from the environment; README.md lists every variable.

``PADDOCK_ENV=production`` refuses to start without a secret key, a PostgreSQL
``DATABASE_URL``, a ``REDIS_URL`` and ``PADDOCK_ENCRYPTION_KEYS``. The development default is embedded: an SQLite file
and a broker that needs no server, both under ``PADDOCK_DATA_DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from controlplane import env

BASE_DIR = Path(__file__).resolve().parent.parent
PADDOCK_ENV = env.string("PADDOCK_ENV", "development") or "development"
if PADDOCK_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"PADDOCK_ENV={PADDOCK_ENV!r}: use development, test or production")
PRODUCTION = PADDOCK_ENV == "production"

DATA_DIR = Path(env.string("PADDOCK_DATA_DIR", str(BASE_DIR / ".paddock")) or ".paddock").resolve()
if PADDOCK_ENV == "development":
    # The embedded default keeps its SQLite file, broker and static files here: create it on
    # first use, so a fresh checkout (or a new PADDOCK_DATA_DIR) works without a mkdir.
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"PADDOCK_DATA_DIR={DATA_DIR} cannot be created: {exc.strerror}") from exc


def _local_secret_key(folder: Path) -> str:
    """A random key made on first use and kept in ``folder/secret-key`` (mode 0600): the embedded
    default's sessions and stored credentials are then no easier to forge than production's.
    Several processes may start at once: the first link wins and the others read its key."""
    path = folder / "secret-key"
    with contextlib.suppress(FileNotFoundError):
        if len(key := path.read_text().strip()) >= 40:
            return key
    folder.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".secret-key-")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text().strip()


# What development keys used to be (derived from the data directory's path, so guessable): kept
# only to decrypt credentials stored before, which are re-encrypted with the new key when saved.
LEGACY_DEVELOPMENT_SECRET_KEY = "paddock-insecure-development-key-" + hashlib.sha256(str(DATA_DIR).encode()).hexdigest()
if PRODUCTION:
    SECRET_KEY = env.required("PADDOCK_SECRET_KEY")
else:
    SECRET_KEY = env.string("PADDOCK_SECRET_KEY") or _local_secret_key(DATA_DIR)
DEBUG = env.boolean("PADDOCK_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.strings(
    "PADDOCK_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.strings("PADDOCK_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "apps.core",
    "apps.tenancy",
    "apps.inventory",
    "apps.jobs",
    "apps.costs",
    "apps.planner",
    "apps.quotas",
    "apps.admission",
    "apps.checkpoints",
    "apps.serving",
    "apps.telemetry",
]

MIDDLEWARE = [
    # Outermost: every answer below gets its Content-Security-Policy (WhiteNoise's files too),
    # and no API, health or metrics client ever gets an HTML error page.
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    "apps.core.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"
ASGI_APPLICATION = "controlplane.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------
_default_database = f"sqlite:///{DATA_DIR / 'paddock.sqlite3'}"
DATABASE_URL = env.string("DATABASE_URL", _default_database) or _default_database
if PRODUCTION and not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database in production")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for the write lock, take it up front.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker and cache ---------------------------------------------------------------------
REDIS_URL = env.string("REDIS_URL")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set in production")
BROKER_DIR = DATA_DIR / "broker"
# kombu's file-system transport with atomic writes and claims (apps/core/broker.py): its
# own "filesystem://" hands consumers half-written messages under load and crashes workers.
_embedded_broker = "paddockfs://"
CELERY_BROKER_URL = env.string("PADDOCK_BROKER_URL") or REDIS_URL or _embedded_broker
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith(("paddockfs://", "filesystem://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The folder is polled: every poll is one directory listing, and the interval is
        # added to every task hop (kombu's default, 1 s, would make each hop take a second).
        "polling_interval": 0.02,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task runs, so a slow task is not delivered twice; a killed
        # worker's task comes back after it (kombu sweeps every interval x throttle).
        "visibility_timeout": env.integer("PADDOCK_BROKER_VISIBILITY_TIMEOUT", 60),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.boolean("PADDOCK_TASKS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# The cache is where processes coordinate (the watch loop's lock, coalesced scheduler wake-ups,
# circuit breakers, login throttles), so every process must see the same one: Redis, or in
# the embedded default a table in the database file (``manage.py createcachetable``, which
# ``runlocal`` runs). A per-process memory cache would let each process hold "the" lock.
CACHES: dict[str, dict[str, object]]
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "paddock_cache",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Paddock behaviour -------------------------------------------------------------------
# Seconds between level-triggered reconcile passes (beat) and scheduler passes.
PADDOCK_RECONCILE_INTERVAL = env.number("PADDOCK_RECONCILE_INTERVAL", 5.0)
# A pending job that fits its quota but not the free capacity for this long reserves its pool:
# nothing queued behind it there is admitted until it runs (no head-of-line blocking before).
PADDOCK_SCHEDULER_STARVATION_SECONDS = env.number("PADDOCK_SCHEDULER_STARVATION_SECONDS", 1800.0)
# Pending jobs' estimated starts: refreshed at most this often (seconds), after a pass commits,
# by replaying the scheduler over at most MAX_STEPS expected ends and HORIZON seconds ahead;
# ends within QUANTUM seconds of each other are one step. A job with no declared runtime, planner
# estimate or history runs DEFAULT_RUNTIME seconds, as far as the estimate knows; one refresh
# stops after BUDGET seconds of work (the rest: "later than").
PADDOCK_ESTIMATE_INTERVAL = env.number("PADDOCK_ESTIMATE_INTERVAL", 30.0)
PADDOCK_ESTIMATE_MAX_STEPS = env.integer("PADDOCK_ESTIMATE_MAX_STEPS", 200)
PADDOCK_ESTIMATE_HORIZON = env.number("PADDOCK_ESTIMATE_HORIZON", 7 * 86400.0)
PADDOCK_ESTIMATE_QUANTUM = env.number("PADDOCK_ESTIMATE_QUANTUM", 60.0)
PADDOCK_ESTIMATE_DEFAULT_RUNTIME = env.number("PADDOCK_ESTIMATE_DEFAULT_RUNTIME", 3600.0)
PADDOCK_ESTIMATE_BUDGET = env.number("PADDOCK_ESTIMATE_BUDGET", 20.0)  # seconds of work per refresh
# How long a dispatched attempt is watched closely (sub-second polls) before only the
# periodic reconcile looks at it.
PADDOCK_WATCH_SECONDS = env.number("PADDOCK_WATCH_SECONDS", 30.0)
PADDOCK_WATCH_POLL = env.number("PADDOCK_WATCH_POLL", 0.025)
PADDOCK_WATCH_SLICE = env.number("PADDOCK_WATCH_SLICE", 2.0)
# Every call to a cluster ends by this many seconds (a submit that uploads code: the second);
# after PADDOCK_BREAKER_FAILURES calls in a row fail, the cluster is left alone for a while.
PADDOCK_BACKEND_DEADLINE = env.number("PADDOCK_BACKEND_DEADLINE", 15.0)
PADDOCK_SUBMIT_DEADLINE = env.number("PADDOCK_SUBMIT_DEADLINE", 150.0)
# How long one control-loop pass waits for all clusters at once (capacity, status, submit):
# a cluster that has not answered by then waits for the next pass; the others go on.
PADDOCK_CLUSTER_BUDGET = env.number("PADDOCK_CLUSTER_BUDGET", 3.0)
# An admitted attempt not yet sent after this many seconds is sent again by reconcile (its
# message was lost with a killed worker or a flushed broker; a second send adopts, never doubles).
PADDOCK_REDISPATCH_AFTER = env.number("PADDOCK_REDISPATCH_AFTER", 10.0)
# How many times a job is tried again when the cluster, not the job, failed it (a restarted
# Ray head that forgot it, a node or the job's supervisor that died); max_retries is apart.
PADDOCK_INFRASTRUCTURE_RETRIES = env.integer("PADDOCK_INFRASTRUCTURE_RETRIES", 3)
# Where a running job reaches Paddock's API to report metrics and checkpoints (PADDOCK_API_URL
# in the job's environment): an address the cluster's nodes can reach.
PADDOCK_API_URL = (env.string("PADDOCK_API_URL", "") or "http://127.0.0.1:8000").rstrip("/")
# Checkpoint metrics: at most this many points per series come back for a chart (downsampled).
PADDOCK_METRICS_MAX_POINTS = env.integer("PADDOCK_METRICS_MAX_POINTS", 2000)
# Presigned storage URLs handed to a job (checkpoint uploads and downloads) expire after this.
PADDOCK_STORAGE_URL_SECONDS = env.integer("PADDOCK_STORAGE_URL_SECONDS", 6 * 3600)
# A checkpoint of at most this many bytes is read back once to record its sha256.
PADDOCK_CHECKPOINT_HASH_MAX_BYTES = env.integer("PADDOCK_CHECKPOINT_HASH_MAX_BYTES", 256 * 2**20)
# Serving endpoints. The model server's HTTP proxy binds here on each cluster (set by the first
# deployment; Serve keeps it until it restarts): loopback by default, as nothing else should reach it.
PADDOCK_SERVE_HTTP_HOST = env.string("PADDOCK_SERVE_HTTP_HOST", "127.0.0.1") or "127.0.0.1"
PADDOCK_SERVE_HTTP_PORT = env.integer("PADDOCK_SERVE_HTTP_PORT", 8700)
# Requests one model replica takes at once (Serve's default of 5 queues 16 concurrent clients).
PADDOCK_SERVE_MAX_ONGOING = env.integer("PADDOCK_SERVE_MAX_ONGOING", 32)
PADDOCK_SERVE_INGRESS_MAX_ONGOING = env.integer("PADDOCK_SERVE_INGRESS_MAX_ONGOING", 1000)
# Serve checks each model replica this often, and gives a check this long.
PADDOCK_SERVE_HEALTH_PERIOD = env.number("PADDOCK_SERVE_HEALTH_PERIOD", 5.0)
PADDOCK_SERVE_HEALTH_TIMEOUT = env.number("PADDOCK_SERVE_HEALTH_TIMEOUT", 30.0)
# A revision failing its health checks this long fails (a new one is rolled back; the serving
# one fails the endpoint and gives its quota back).
PADDOCK_ENDPOINT_FAIL_AFTER = env.number("PADDOCK_ENDPOINT_FAIL_AFTER", 120.0)
# How often the endpoints' figures (requests, latency, tokens) are read from their ingress.
PADDOCK_SERVING_SAMPLE_SECONDS = env.number("PADDOCK_SERVING_SAMPLE_SECONDS", 10.0)
# While an endpoint deploys, rolls out or drains, its cluster is reconciled again this soon.
PADDOCK_SERVING_FOLLOW_UP = env.number("PADDOCK_SERVING_FOLLOW_UP", 0.5)
# Costs: how often running work is charged into the usage ledger (and budgets checked); each
# pass appends one line per running attempt, so shorter means a livelier ledger and more rows.
PADDOCK_COST_ACCRUAL_SECONDS = env.number("PADDOCK_COST_ACCRUAL_SECONDS", 300.0)
# Comma-separated Fernet keys for credentials at rest; the first encrypts, all decrypt.
# Required in production: a key derived from the secret key (the fallback elsewhere) would make
# rotating the secret key lose every stored credential.
PADDOCK_ENCRYPTION_KEYS = env.strings("PADDOCK_ENCRYPTION_KEYS", [])
if PRODUCTION and not PADDOCK_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "PADDOCK_ENCRYPTION_KEYS (or PADDOCK_ENCRYPTION_KEYS_FILE) must be set in production: comma-separated "
        "Fernet keys for the credentials stored in the database. Generate one with "
        '`python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"` '
        "(deploy/init_env.py writes one)."
    )


def _check_fernet_keys(keys: list[str]) -> None:
    """Each key must be one Fernet accepts; the message never repeats a key."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"PADDOCK_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key "
                "(32 random bytes in URL-safe base64: 44 characters ending in '='). Generate one with "
                '`python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`.'
            ) from None


_check_fernet_keys(PADDOCK_ENCRYPTION_KEYS)
# Seconds between discovery passes over every registered cluster (nodes, GPUs, labels).
PADDOCK_DISCOVERY_INTERVAL = env.number("PADDOCK_DISCOVERY_INTERVAL", 60.0)
# Seconds between syncs of every Kueue cluster's Kueue objects (besides those after each change).
PADDOCK_KUEUE_SYNC_INTERVAL = env.number("PADDOCK_KUEUE_SYNC_INTERVAL", 300.0)
# Seconds a cluster may go unanswered before discovery marks its Ray-discovered nodes down.
PADDOCK_NODE_DOWN_AFTER = env.number("PADDOCK_NODE_DOWN_AFTER", 300.0)
PADDOCK_TOKEN_DEFAULT_DAYS = env.integer("PADDOCK_TOKEN_DEFAULT_DAYS", 90)
# GPU telemetry: a GPU held under PADDOCK_IDLE_GPU_PERCENT utilisation for PADDOCK_IDLE_GPU_MINUTES
# is idle (an event on its job, the operators' idle view). Each reading goes into 1-minute
# buckets, kept PADDOCK_GPU_SERIES_MINUTE_HOURS, and 10-minute buckets, kept PADDOCK_GPU_SERIES_DAYS.
PADDOCK_IDLE_GPU_PERCENT = env.number("PADDOCK_IDLE_GPU_PERCENT", 5.0)
PADDOCK_IDLE_GPU_MINUTES = env.number("PADDOCK_IDLE_GPU_MINUTES", 30.0)
PADDOCK_GPU_SERIES_MINUTE_HOURS = env.number("PADDOCK_GPU_SERIES_MINUTE_HOURS", 6.0)
PADDOCK_GPU_SERIES_DAYS = env.number("PADDOCK_GPU_SERIES_DAYS", 14.0)
PADDOCK_LOG_MAX_BYTES = env.integer("PADDOCK_LOG_MAX_BYTES", 8 * 1024 * 1024)
# Code packages (``paddock submit --workdir``): Paddock stores them and uploads them to a
# cluster's own package store. Ray's dashboard takes request bodies of at most 100 MiB
# (ray_constants.DASHBOARD_CLIENT_MAX_SIZE), so a larger package could never reach Ray.
RAY_MAX_PACKAGE_BYTES = 100 * 1024 * 1024
PADDOCK_PACKAGE_MAX_BYTES = env.integer("PADDOCK_PACKAGE_MAX_BYTES", RAY_MAX_PACKAGE_BYTES)
PADDOCK_PACKAGE_MAX_FILES = env.integer("PADDOCK_PACKAGE_MAX_FILES", 20_000)
PADDOCK_PACKAGE_MAX_UNCOMPRESSED_BYTES = env.integer("PADDOCK_PACKAGE_MAX_UNCOMPRESSED_BYTES", 1024**3)
if not 0 < PADDOCK_PACKAGE_MAX_BYTES <= RAY_MAX_PACKAGE_BYTES:
    raise ImproperlyConfigured(
        f"PADDOCK_PACKAGE_MAX_BYTES must be between 1 and {RAY_MAX_PACKAGE_BYTES} (Ray's own upload limit)"
    )

# --- auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION and env.boolean("PADDOCK_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (most ingress controllers).
_BEHIND_TLS_PROXY = env.boolean("PADDOCK_BEHIND_TLS_PROXY", False)
if _BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.integer("PADDOCK_HSTS_SECONDS", 0)
SECURE_SSL_REDIRECT = env.boolean("PADDOCK_SSL_REDIRECT", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("PADDOCK_DEBUG must be false in production")
if PRODUCTION and len(SECRET_KEY) < 40:
    raise ImproperlyConfigured("PADDOCK_SECRET_KEY is too short: use at least 40 random characters")

# --- i18n, static ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# Where the built dashboard is (a source checkout's frontend/dist unless told otherwise).
FRONTEND_DIST = Path(env.string("PADDOCK_FRONTEND_DIST", str(BASE_DIR / "frontend" / "dist")) or ".").resolve()
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.is_dir() else []
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- request bounds -------------------------------------------------------------------------
# Every body is bounded: Django refuses a form or JSON body over this many bytes (413 from the
# API), and the API's JSON parser refuses arrays and objects nested deeper than the depth.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MiB, Django's default, stated on purpose
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
PADDOCK_JSON_MAX_DEPTH = 64

# --- REST framework ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.jobs.authentication.JobTokenAuthentication",
        "apps.tenancy.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.permissions.IsAuthenticatedWithTokenScope"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "apps.core.api.ordering.StableOrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.exception_handler",
    # Failed sign-ins (apps.tenancy.throttling): per username and per client address.
    "DEFAULT_THROTTLE_RATES": {
        "login_username": "10/15m",
        "login_address": "50/15m",
        # Planner specs per caller (apps.planner.api.throttling): a list costs its length.
        "planner_specs": env.string("PADDOCK_PLANNER_SPECS_RATE", "1000/10m") or "1000/10m",
    },
    # The client address for throttling: REMOTE_ADDR, or behind the TLS proxy the address it
    # appends to X-Forwarded-For (a client's own X-Forwarded-For is never trusted).
    "NUM_PROXIES": 1 if _BEHIND_TLS_PROXY else 0,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Paddock API",
    "DESCRIPTION": "Paddock, the LLMOps control plane: teams, clusters, jobs, logs and tokens.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The docs pages load Swagger UI and ReDoc from our own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "apps.jobs.choices.JobState",
        "AttemptStateEnum": "apps.jobs.choices.AttemptState",
        "JobKindEnum": "apps.jobs.choices.JobKind",
        "EventKindEnum": "apps.jobs.choices.EventKind",
        "BulkCancelOutcomeEnum": "apps.jobs.choices.BulkCancelOutcome",
        "ClusterStateEnum": "apps.inventory.choices.ClusterState",
        "ClusterKindEnum": "apps.inventory.choices.ClusterKind",
        "TokenScopeEnum": "apps.tenancy.choices.TokenScope",
        "ModelStageEnum": "apps.checkpoints.choices.Stage",
        "EndpointStateEnum": "apps.serving.choices.EndpointState",
        "RevisionStateEnum": "apps.serving.choices.RevisionState",
        "EndpointEventKindEnum": "apps.serving.choices.EventKind",
        "ServingRuntimeEnum": "apps.serving.choices.Runtime",
        "JobRuntimeEnum": "apps.jobs.choices.JobRuntime",
        "InterfaceKindEnum": "apps.telemetry.choices.InterfaceKind",
        "GpuSeriesResolutionEnum": "apps.telemetry.choices.Resolution",
    },
}

# --- logging ------------------------------------------------------------------------------
LOG_LEVEL = (env.string("PADDOCK_LOG_LEVEL", "INFO") or "INFO").upper()
LOG_FORMAT = env.string("PADDOCK_LOG_FORMAT", "json" if PRODUCTION else "console") or "console"
# Celery's per-task lines only from WARNING on, unless PADDOCK_LOG_LEVEL=DEBUG asks for all.
from apps.core.logging import configure_structlog, logging_config  # noqa: E402

LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL, quiet_celery=LOG_LEVEL != "DEBUG")
configure_structlog()

CELERY_BEAT_SCHEDULE = {
    "jobs.reconcile": {"task": "jobs.reconcile", "schedule": PADDOCK_RECONCILE_INTERVAL},
    "inventory.discover": {"task": "inventory.discover", "schedule": PADDOCK_DISCOVERY_INTERVAL},
    "admission.sync_kueue_all": {"task": "admission.sync_kueue_all", "schedule": PADDOCK_KUEUE_SYNC_INTERVAL},
    "checkpoints.sweep": {"task": "checkpoints.sweep", "schedule": 30.0},
    "serving.reconcile_all": {"task": "serving.reconcile_all", "schedule": 10.0},
    "serving.sample": {"task": "serving.sample", "schedule": PADDOCK_SERVING_SAMPLE_SECONDS},
    "costs.accrue": {"task": "costs.accrue", "schedule": PADDOCK_COST_ACCRUAL_SECONDS},
    "telemetry.prune": {"task": "telemetry.prune", "schedule": 600.0},
}
