"""Nudge settings: one code path, two shapes.

With no environment the product runs on its embedded default (SQLite, a file-system Celery broker,
console/file message providers). Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL
(Redis). Every value read from the environment is checked, and a bad one stops start-up.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from config.env import env_bool, env_int, env_list, env_str, secret_key_refuse_weak

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("NUDGE_VAR_DIR", str(BASE_DIR / "var")))

EMBEDDED = "DATABASE_URL" not in os.environ
DEBUG = env_bool("DEBUG", EMBEDDED)

# Published with the code: good enough for the embedded default on one's own machine, refused in production.
_EMBEDDED_SECRET_KEY = "nudge-embedded-development-key-not-for-production-use-0123456789"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", "")
if not DEBUG:
    secret_key_refuse_weak("SECRET_KEY", SECRET_KEY, known=(_EMBEDDED_SECRET_KEY,))
elif not SECRET_KEY:
    SECRET_KEY = _EMBEDDED_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "unfold",  # the admin theme of the panel and the operators' admin: before django.contrib.admin
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "workspaces",
    "activities",
    "journeys",
    "behaviors",
    "messaging",
    "segments",
    "panel",
]

MIDDLEWARE = [
    # Not a middleware: refuses to build a web process that would answer 500 (see config/checks.py).
    "config.checks.WebStartupChecks",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseNulMiddleware",  # a NUL in the URL is a 400 before any view
    "activities.ingestion.IngestionRoutes",  # /v1/track … answered here: the rest is the panel's
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]


# --- Database -----------------------------------------------------------------------------------


def _database(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// or sqlite:// URL; got scheme {scheme!r}")
    if scheme == "sqlite":
        config: dict[str, Any] = dict(dj_database_url.parse(url))
        # WAL lets the web process read while the worker writes; IMMEDIATE avoids lock upgrades.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        return config
    parsed = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True)
    config = dict(parsed)
    config.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    return config


VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": _database(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'nudge.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Auth, i18n, static -------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before the password is checked. It authenticates
# no one itself, so sessions keep naming ModelBackend.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Login lockout (admin and panel): after this many failed logins for one username from one address, that
# pair is refused until this many minutes have passed without another attempt. Attempts are rows in the
# database, so every web process sees them; operators see and clear them under Axes in the admin.
AXES_FAILURE_LIMIT = env_int("NUDGE_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("NUDGE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "panel.lockout.lockout_response"
AXES_VERBOSE = False  # no banner from every process; failures and lockouts are still logged
AXES_DISABLE_ACCESS_LOG = True  # failures are what lockout needs; a row per successful login would only grow
# Behind a load balancer every login comes from its address: the client is then counted from
# X-Forwarded-For, with this many proxies in front (0: the connection's own address, right without one).
NUDGE_TRUSTED_PROXIES = env_int("NUDGE_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
LOGIN_URL = "panel:login"
LOGIN_REDIRECT_URL = "panel:index"
LOGOUT_REDIRECT_URL = "panel:login"

# django-unfold: the operators' admin (`UNFOLD`) and the marketing panel (`UNFOLD_PANEL`, panel/sites.py).
_UNFOLD_COLOURS = {
    "primary": {
        "50": "oklch(97.7% .014 308.299)",
        "100": "oklch(94.6% .033 307.174)",
        "200": "oklch(90.2% .063 306.703)",
        "300": "oklch(82.7% .119 306.383)",
        "400": "oklch(71.4% .203 305.504)",
        "500": "oklch(62.7% .265 303.9)",
        "600": "oklch(55.8% .288 302.321)",
        "700": "oklch(49.6% .265 301.924)",
        "800": "oklch(43.8% .218 303.724)",
        "900": "oklch(38.1% .176 304.987)",
        "950": "oklch(29.1% .149 302.717)",
    },
}
UNFOLD = {
    "SITE_TITLE": "Nudge operators",
    "SITE_HEADER": "Nudge operators",
    "SITE_SYMBOL": "settings",
    "COLORS": _UNFOLD_COLOURS,
    "SHOW_VIEW_ON_SITE": False,
    "SITE_FAVICONS": [{"rel": "icon", "sizes": "any", "type": "image/svg+xml", "href": "panel.navigation.favicon"}],
}
UNFOLD_PANEL = {
    "SITE_TITLE": "Nudge",
    "SITE_HEADER": "panel.navigation.workspace_name",
    "SITE_SUBHEADER": "Nudge",
    "SITE_SYMBOL": "campaign",
    "SITE_URL": None,
    "SITE_DROPDOWN": "panel.navigation.workspace_switcher",
    "COLORS": _UNFOLD_COLOURS,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_HISTORY": False,
    "STYLES": ["panel.navigation.stylesheet"],
    "SCRIPTS": ["panel.navigation.script"],
    "SITE_FAVICONS": [{"rel": "icon", "sizes": "any", "type": "image/svg+xml", "href": "panel.navigation.favicon"}],
    "SIDEBAR": {"show_search": False, "show_all_applications": False, "navigation": "panel.navigation.sidebar"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}


# --- Security (production) ----------------------------------------------------------------------

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("USE_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Ingestion and health are polled by load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
X_FRAME_OPTIONS = "DENY"
# HSTS preloading commits a whole domain for months: an operator opts in with SECURE_HSTS_PRELOAD=1.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True


# --- Celery -------------------------------------------------------------------------------------


def _broker(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss", "filesystem", "amqp", "memory"}:
        raise ImproperlyConfigured(
            f"CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL; got scheme {scheme!r}"
        )
    return url


CELERY_BROKER_URL = _broker(env_str("CELERY_BROKER_URL", "filesystem://"))
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    _queue = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "queue"),
        "data_folder_out": str(_queue / "queue"),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),  # broadcast (remote control) exchanges
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Sends have a queue of their own, so they never wait behind a backlog of evaluation: a worker started
# without -Q takes both queues (turn by turn); `-Q deliver` / `-Q celery` dedicate workers to one.
CELERY_TASK_QUEUES = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("deliver", Exchange("deliver"), routing_key="deliver"),
)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"messaging.deliver": {"queue": "deliver"}, "messaging.recover": {"queue": "deliver"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"


# --- Django REST framework and the OpenAPI schema -------------------------------------------------

REST_FRAMEWORK = {
    # A token first; else a member signed in to the panel, in its current workspace (the docs' "Try it out").
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workspaces.authentication.ManagementTokenAuthentication",
        "workspaces.authentication.PanelSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["workspaces.permissions.HasWorkspaceRole"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON that PostgreSQL or the engine could not take (NUL, 1e400, deep nesting) is a 400 at the door.
    # The API speaks JSON (uploads name their own parsers): any other body is a 415, not a form to guess at.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.StrictJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["config.throttles.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "workspaces.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nudge management API",
    "DESCRIPTION": "Journeys, behaviors, segments, templates, profiles and activities of one workspace. "
    "Authenticate with `Authorization: Bearer <management token>`, or sign in to the panel: these docs then "
    "act in the panel's current workspace with your role there.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Two models have a `status` with different choices: name each set.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.schema.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "JourneyStatusEnum": "journeys.models.JourneyStatus",
        "MessageStatusEnum": "messaging.models.MessageStatus",
        "SegmentKindEnum": "segments.models.SegmentKind",
    },
}


# --- Nudge --------------------------------------------------------------------------------------

# messageId deduplication window; a periodic task prunes older keys.
NUDGE_DEDUPE_WINDOW_DAYS = env_int("NUDGE_DEDUPE_WINDOW_DAYS", 30, minimum=1)
# What ingestion refused and the pipeline quarantined stays visible (GET /api/v1/ingestion-errors/) this long.
NUDGE_INGESTION_ERRORS_DAYS = env_int("NUDGE_INGESTION_ERRORS_DAYS", 30, minimum=1)
NUDGE_MAX_EVENT_BYTES = 32 * 1024
NUDGE_MAX_REQUEST_BYTES = env_int("NUDGE_MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=64 * 1024)
# Rate limits. Management API: a DRF rate string per token. Ingestion: requests per second per write key,
# with bursts of up to this many seconds' worth. Their counters live in this Redis (empty: the Celery
# broker's Redis when it is redis://, else an in-process limiter).
NUDGE_API_RATE = env_str("NUDGE_API_RATE", "1200/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour)", NUDGE_API_RATE):
    raise ImproperlyConfigured(f"NUDGE_API_RATE must look like 1200/min (per s, min or hour); got {NUDGE_API_RATE!r}")
NUDGE_INGEST_RATE_PER_SECOND = env_int("NUDGE_INGEST_RATE_PER_SECOND", 2000, minimum=1)
NUDGE_INGEST_BURST_SECONDS = env_int("NUDGE_INGEST_BURST_SECONDS", 10, minimum=1)
NUDGE_RATE_LIMIT_REDIS_URL = env_str("NUDGE_RATE_LIMIT_REDIS_URL", "")
# Outbound calls (webhooks, HTTP providers) may reach these CIDRs despite the private-address policy.
NUDGE_OUTBOUND_ALLOW = env_list("NUDGE_OUTBOUND_ALLOW", [])
# Functions called with each stored batch of activities, in order (the evaluation pipeline).
NUDGE_ACTIVITY_CONSUMERS = [
    "activities.tracking.profiles_seen_record",
    "activities.tracking.tracked_activities_record",
    "journeys.evaluation.activities_evaluate",
]
# Called when a profile is deleted (before) and merged into another (after the move), in this order.
NUDGE_PROFILE_DELETED_HOOKS = ["journeys.runtime.profile_deleted"]
NUDGE_PROFILE_MERGED_HOOKS = ["journeys.runtime.profile_merged", "segments.services.profile_merged"]
# Called with every new workspace (after its owner and keys exist): the ready-made behavior drafts.
NUDGE_WORKSPACE_CREATED_HOOKS = ["behaviors.services.examples_install", "segments.services.builtins_install"]
# Unprocessed batches older than this are handed to workers again by the periodic sweep.
NUDGE_PIPELINE_RETRY_SECONDS = env_int("NUDGE_PIPELINE_RETRY_SECONDS", 60, minimum=5)
# Behind a backlog a worker's transaction takes up to this many pending batches together (1: each alone).
NUDGE_PIPELINE_GROUP = env_int("NUDGE_PIPELINE_GROUP", 10, minimum=1)
# The provider for a channel a workspace has not configured: the file outbox (var/outbox/) on the
# embedded default; none in production (such messages fail, saying so).
NUDGE_DEFAULT_PROVIDER = env_str("NUDGE_DEFAULT_PROVIDER", "file" if EMBEDDED else "")
if NUDGE_DEFAULT_PROVIDER not in ("", "file"):
    raise ImproperlyConfigured("NUDGE_DEFAULT_PROVIDER must be 'file' or empty")
# Where people reach this server (tracked links, open pixels, unsubscribe pages in messages).
NUDGE_PUBLIC_URL = env_str("NUDGE_PUBLIC_URL", "http://127.0.0.1:8000")
# Delivery: a worker owns a message it is sending for this long; after it, the message is handed out
# again (the worker died). Transient failures back off exponentially (with jitter) up to the cap, and
# after NUDGE_SEND_MAX_ATTEMPTS the message fails.
# Provider calls in flight at once per delivery process: a batch's HTTP calls share one event loop (and
# keep this many connections alive), the deliver task claims batches at least this large; providers
# without an async send (email, web push) use at most 16 threads of them.
NUDGE_SEND_CONCURRENCY = env_int("NUDGE_SEND_CONCURRENCY", 100, minimum=1)
NUDGE_SEND_LEASE_SECONDS = env_int("NUDGE_SEND_LEASE_SECONDS", 120, minimum=5)
NUDGE_SEND_MAX_ATTEMPTS = env_int("NUDGE_SEND_MAX_ATTEMPTS", 8, minimum=1)
NUDGE_SEND_BACKOFF_SECONDS = env_int("NUDGE_SEND_BACKOFF_SECONDS", 30, minimum=1)
NUDGE_SEND_BACKOFF_MAX_SECONDS = env_int("NUDGE_SEND_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=1)

# GET /metrics answers only with `Authorization: Bearer <this>`; empty: /metrics is off (404).
NUDGE_METRICS_TOKEN = env_str("NUDGE_METRICS_TOKEN", "")
if NUDGE_METRICS_TOKEN and (len(NUDGE_METRICS_TOKEN) < 32 or NUDGE_METRICS_TOKEN.strip() != NUDGE_METRICS_TOKEN):
    raise ImproperlyConfigured(
        "NUDGE_METRICS_TOKEN must be at least 32 characters without surrounding spaces "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )

# Segments: rule segments' members are recomputed when older than this (the beat task looks every
# minute); one refresh may run this long before it is given up (and retried on the next pass).
NUDGE_SEGMENT_REFRESH_SECONDS = env_int("NUDGE_SEGMENT_REFRESH_SECONDS", 300, minimum=30)
NUDGE_SEGMENT_REFRESH_TIMEOUT_SECONDS = env_int("NUDGE_SEGMENT_REFRESH_TIMEOUT_SECONDS", 200, minimum=1)
# The panel's and the API's estimate of an unsaved rule answers within this, or says it could not.
NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS = env_int("NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS", 3000, minimum=100)
# A list's CSV upload: at most this many bytes.
NUDGE_SEGMENT_IMPORT_MAX_BYTES = env_int("NUDGE_SEGMENT_IMPORT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request's full URL at INFO: provider and webhook URLs carry secrets, and
        # delivery makes thousands of calls a second.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
