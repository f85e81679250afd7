"""Canopy settings: everything comes from the environment (see .env.example).

Without any environment Canopy runs embedded: SQLite in WAL mode, a filesystem Celery broker under
var/, the sandbox provider. DATABASE_URL selects PostgreSQL, CELERY_BROKER_URL selects Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ
import ldap
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django_auth_ldap.config import (
    LDAPSearch,
    NestedActiveDirectoryGroupType,
    NestedGroupOfNamesType,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env("CANOPY_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
# The fallback key only exists so that `make run` works out of the box; production sets SECRET_KEY.
SECRET_KEY = env(
    "SECRET_KEY", default="canopy-insecure-development-key" if DEBUG else environ.Env.NOTSET
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_htmx",
    "axes",
    "csp",
    "core",  # the ground: tenancy, audit, notifications (imports no other app)
    "catalog",
    "approvals",
    "provisioning",
    "billing",
    "lifecycle",
    "autoscaling",
    "identity",
    "portal",  # the shell: URLs, dashboard, monitoring, demo seeding (may import every app)
]

MIDDLEWARE = [
    "core.middleware.DatabaseUnavailableMiddleware",  # outermost: sees every layer's errors
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.AuditCredentialMiddleware",
    "identity.oidc.OidcSessionRefresh",  # re-checks OIDC sessions with the provider
    "core.middleware.ApiNotFoundAsJsonMiddleware",
    # Last, so that it turns a refused sign-in into the lockout page (HTML login and admin).
    "axes.middleware.AxesMiddleware",
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
                "portal.context_processors.navigation",
                "identity.context_processors.sign_in",
            ],
            # `human` and `field_label` in every template (see core.labels).
            "builtins": ["core.templatetags.labels"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'canopy.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions and a busy
    # timeout make writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A database host that does not answer fails a request (a 503) or a worker's sweep in
    # seconds instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "identity.backends.LocalPasswordBackend",  # Django's ModelBackend; see CANOPY_LOCAL_PASSWORDS
    "identity.backends.DirectoryLdapBackend",  # inactive until CANOPY_LDAP_SERVER_URI is set
    "identity.oidc.DirectoryOidcBackend",  # inactive until CANOPY_OIDC_ISSUER is set
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:menu"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous visitors see nothing

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="canopy@localhost")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identity.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    # Unknown or malformed filter values answer 400 naming the parameter.
    "DEFAULT_FILTER_BACKENDS": ["core.api.filters.StrictFilterBackend"],
    # Documents the 400/401/403/404/429/503 answers of every operation.
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    # JSON bodies nest at most CANOPY_JSON_MAX_DEPTH levels; deeper is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # Requests per client (address when anonymous, account when signed in); over it: 429 with
    # Retry-After.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("CANOPY_API_THROTTLE_ANON", default="60/minute"),
        "user": env("CANOPY_API_THROTTLE_USER", default="1200/minute"),
    },
}
# How deep a JSON request body may nest (real bodies nest a few levels).
CANOPY_JSON_MAX_DEPTH = env.int("CANOPY_JSON_MAX_DEPTH", default=32)
SPECTACULAR_SETTINGS = {
    "TITLE": "Canopy API",
    "DESCRIPTION": "Self-service cloud catalog: order, approve, provision and manage resources.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set in the schema (drf-spectacular would otherwise invent
    # State91aEnum); an order's kind and the kinds a policy matches are one enum.
    "ENUM_NAME_OVERRIDES": {
        "OrderKindEnum": "approvals.models.OrderKind",
        "ChangeActionEnum": "catalog.models.ChangeAction",
        "OrderStatusEnum": "catalog.models.OrderStatus",
        "ResourceStateEnum": "provisioning.models.ResourceState",
        "ApproverRoleEnum": "approvals.models.ApproverRole",
        "ApprovalStatusEnum": "approvals.models.ApprovalStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# Delivery is at least once: a task is acknowledged after it ran, and re-queued if its worker dies.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_RESULT_BACKEND = None  # the database is the truth; no task results are read
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker whose broker went away keeps trying to reconnect (every 2 s growing to 30 s), never
# giving up, and comes back on its own; its sweeps then publish what the outbox kept.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Celery closes the database connection around every task unless told to reuse it, and a new
# PostgreSQL connection costs more than a provisioning step: reuse it (recycled every 1000
# tasks); portal.celery applies CONN_MAX_AGE and the health check around tasks instead.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Queue names carry a prefix so that test sessions never consume each other's messages.
CANOPY_QUEUE_PREFIX = env("CANOPY_QUEUE_PREFIX", default="")
CANOPY_DEFAULT_QUEUE = f"{CANOPY_QUEUE_PREFIX}canopy"
CANOPY_PROVIDER_QUEUE = f"{CANOPY_QUEUE_PREFIX}provisioning"
# Billing's long jobs (metering, closing a month, exports) stay off the admission queue.
CANOPY_BILLING_QUEUE = f"{CANOPY_QUEUE_PREFIX}billing"
# Every queue some worker must serve (health checks each one's heartbeat).
CANOPY_QUEUES = [CANOPY_DEFAULT_QUEUE, CANOPY_PROVIDER_QUEUE, CANOPY_BILLING_QUEUE]
# Provider options (locations, sizes, images) are cached and refreshed by workers, so web and
# workers must share the cache: Redis when the broker is Redis, else files under var/ (embedded).
# The prefix keeps test sessions apart.
CACHES = {
    "default": {
        **env.cache(
            "CACHE_URL",
            default=CELERY_BROKER_URL
            if CELERY_BROKER_URL.startswith("redis")
            else f"filecache://{VAR_DIR / 'cache'}",
        ),
        "KEY_PREFIX": CANOPY_QUEUE_PREFIX,
    }
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"  # one client per pool, fails soft
    # A cache that is down must cost little: redis-py's default retries back off for seconds.
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
        "retry": Retry(NoBackoff(), 1),  # once: a pooled connection may predate a restart
    }
CELERY_TASK_DEFAULT_QUEUE = CANOPY_DEFAULT_QUEUE
# Provider calls get their own queue so a slow cloud cannot starve approvals or bookkeeping.
CELERY_TASK_ROUTES = {
    "provisioning.tasks.*": {"queue": CANOPY_PROVIDER_QUEUE},
    "billing.tasks.*": {"queue": CANOPY_BILLING_QUEUE},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # A few minutes past the hour, so the hour's last lifecycle events are committed.
    "meter-last-hour": {
        "task": "billing.tasks.meter_last_hour",
        "schedule": crontab(minute=5),
    },
    # Forecasts move with what runs (an order completes, a group scales): check them often.
    "check-budgets": {
        "task": "billing.tasks.budgets_check",
        "schedule": timedelta(minutes=5),
    },
    "close-last-month": {
        "task": "billing.tasks.close_last_month",
        "schedule": crontab(minute=30, hour=0),
    },
    "reconcile-stuck-rows": {
        "task": "provisioning.tasks.reconcile_stuck",
        "schedule": timedelta(seconds=60),
    },
    "reconcile-cloud-accounts": {
        "task": "provisioning.tasks.reconcile_accounts",
        "schedule": timedelta(minutes=10),
    },
    "refresh-cloud-account-options": {
        "task": "provisioning.tasks.refresh_all_account_options",
        "schedule": timedelta(minutes=4),
    },
    "escalate-overdue-approvals": {
        "task": "approvals.tasks.escalate_overdue",
        "schedule": timedelta(seconds=300),
    },
    # Orders whose admission message was lost (broker down when they were submitted).
    "admit-overdue-orders": {
        "task": "catalog.tasks.admit_overdue_orders",
        "schedule": timedelta(seconds=60),
    },
    "evaluate-autoscaling": {
        "task": "autoscaling.tasks.evaluate",
        "schedule": timedelta(seconds=60),
    },
    # Lease warnings, retirements and deletions, and idle reclaim's graded steps.
    "lifecycle-tick": {
        "task": "lifecycle.tasks.tick",
        "schedule": timedelta(seconds=60),
    },
    # The resource counts the dashboard and /metrics read (portal.rollups), and what runs now,
    # which the dashboard's spend reads (billing.running).
    "refresh-rollups": {
        "task": "portal.tasks.refresh_rollups",
        "schedule": timedelta(seconds=30),
    },
}

# --- Canopy ---------------------------------------------------------------------------------
CANOPY_DEMO_PASSWORD = env("CANOPY_DEMO_PASSWORD", default="canopy")
# seed_demo also starts demo workloads (orders whose lease runs out, an idle server, …).
CANOPY_DEMO_WORKLOAD = env.bool("CANOPY_DEMO_WORKLOAD", default=True)
# Where the portal is reached, for the absolute links in emails (approve/reject, order pages) and
# notifications. Without it, the local server's address on PORT (`make run` sets it from its
# PORT for every process: honcho hands the worker and beat ports of their own).
CANOPY_BASE_URL = env(
    "CANOPY_BASE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"
).rstrip("/")
# How long a row may stay in a transitional state before the reconciler calls it stuck.
CANOPY_TRANSITION_TIMEOUT = timedelta(seconds=env.int("CANOPY_TRANSITION_TIMEOUT", default=900))
# Days a retired order (lease expired, servers stopped) waits before its resources are deleted.
CANOPY_LEASE_GRACE_DAYS = env.int("CANOPY_LEASE_GRACE_DAYS", default=7)
# Encrypts cloud credentials at rest; when empty, a key is derived from SECRET_KEY.
CANOPY_CREDENTIALS_KEY = env("CANOPY_CREDENTIALS_KEY", default="")
# First retry delay of a provider step (seconds); doubles on every retry, capped at 60.
CANOPY_STEP_RETRY_BASE = env.float("CANOPY_STEP_RETRY_BASE", default=1.0)
# Ready provider steps go to the workers in tasks of at most CANOPY_STEP_BATCH steps (a chunk's
# results are recorded in one transaction), spread over at least CANOPY_STEP_SPREAD tasks (about
# the worker pool's size) so that a few slow provider calls still run in parallel.
CANOPY_STEP_BATCH = env.int("CANOPY_STEP_BATCH", default=20)
CANOPY_STEP_SPREAD = env.int("CANOPY_STEP_SPREAD", default=8)
# When set, /metrics answers only `Authorization: Bearer <token>` (Prometheus' bearer_token).
CANOPY_METRICS_TOKEN = env("CANOPY_METRICS_TOKEN", default="")

# --- Hardening: sign-in, HTTPS, headers, bad input (issue 14) -------------------------------
# Failed sign-ins per account (HTML login, admin, API token) before it is locked; the lock lifts
# after the cool-off, or when an admin deletes its access attempt (admin → Axes).
AXES_FAILURE_LIMIT = env.int("CANOPY_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CANOPY_LOGIN_COOLOFF_MINUTES", default=15))
# An account is locked after that many failures from anywhere, and so is an address after that
# many on any accounts (a cool-off, not a permanent lock, limits the harm of someone locking
# another person out on purpose).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "identity.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Guesses during the lock neither count nor extend it, so the page can say when it lifts.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False


# HTTPS only (the default when DEBUG is off): Secure cookies, HSTS, redirect to https. Behind a
# proxy that ends TLS, SECURE_PROXY_SSL_HEADER names its header, e.g. HTTP_X_FORWARDED_PROTO,https
# (only when the proxy always sets it: a client could otherwise claim https).
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=not DEBUG)
# Preloading HSTS is a one-way request to the browsers' built-in list: the operator opts in
# (and until then Django's deployment check about it is silenced).
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if HTTPS_ONLY:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Probes inside the deployment (load balancer, Prometheus) speak plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
if env("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER"))
# The CSRF token reaches htmx from the page (hx-headers), so scripts never read the cookie.
CSRF_COOKIE_HTTPONLY = True
# The portal's pages load scripts and styles only from itself (htmx, Swagger UI and the admin
# are served locally); charts are inline SVG.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # No form-action: signing out of single sign-on redirects the logout form to the
        # provider, whose address only the running settings know.
        "frame-ancestors": ["'none'"],
    }
}

# --- Directory sign-in and API tokens (identity) ---------------------------------------------
# false: only superusers (break-glass admins) sign in with a local password; everyone else
# through OIDC or LDAP. Service accounts never have one.
CANOPY_LOCAL_PASSWORDS = env.bool("CANOPY_LOCAL_PASSWORDS", default=True)
# API tokens: the lifetime when none is asked for, and the longest one may ask for (days).
CANOPY_API_TOKEN_DAYS = env.int("CANOPY_API_TOKEN_DAYS", default=30)
CANOPY_API_TOKEN_MAX_DAYS = env.int("CANOPY_API_TOKEN_MAX_DAYS", default=365)

# OpenID Connect (mozilla-django-oidc): on when CANOPY_OIDC_ISSUER is set; the endpoints come
# from the issuer's /.well-known/openid-configuration.
CANOPY_OIDC_ISSUER = env("CANOPY_OIDC_ISSUER", default="")
CANOPY_OIDC_NAME = env("CANOPY_OIDC_NAME", default="single sign-on")  # "Sign in with <name>"
CANOPY_OIDC_USERNAME_CLAIM = env("CANOPY_OIDC_USERNAME_CLAIM", default="preferred_username")
CANOPY_OIDC_GROUPS_CLAIM = env("CANOPY_OIDC_GROUPS_CLAIM", default="groups")
CANOPY_OIDC_CLOCK_SKEW = env.int("CANOPY_OIDC_CLOCK_SKEW", default=30)  # seconds, for exp/iat
OIDC_RP_CLIENT_ID = env("CANOPY_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("CANOPY_OIDC_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env("CANOPY_OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("CANOPY_OIDC_SCOPES", default="openid email profile")
OIDC_VERIFY_SSL = env.bool("CANOPY_OIDC_VERIFY_SSL", default=True)
OIDC_TIMEOUT = 10
OIDC_USE_PKCE = True
# A session from the provider is re-checked with it this often (roles follow the groups claim,
# people disabled there are logged out); the check is silent while the provider's session lasts.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 60 * env.int("CANOPY_OIDC_RECHECK_MINUTES", default=15)
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the provider's logout
OIDC_AUTHENTICATE_CLASS = "identity.oidc.OidcSignInView"
OIDC_CALLBACK_CLASS = "identity.oidc.OidcCallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "identity.oidc.provider_logout_url"

# LDAP / Active Directory (django-auth-ldap): on when CANOPY_LDAP_SERVER_URI is set
# (ldap://host or ldaps://host:636). The person is searched with the service DN, then bound as.
AUTH_LDAP_SERVER_URI = env("CANOPY_LDAP_SERVER_URI", default="")
AUTH_LDAP_BIND_DN = env("CANOPY_LDAP_BIND_DN", default="")
AUTH_LDAP_BIND_PASSWORD = env("CANOPY_LDAP_BIND_PASSWORD", default="")
AUTH_LDAP_START_TLS = env.bool("CANOPY_LDAP_START_TLS", default=False)
# The user filter decides who may sign in at all: Active Directory's leaves disabled accounts
# out with (!(userAccountControl:1.2.840.113556.1.4.803:=2)).
AUTH_LDAP_USER_SEARCH = LDAPSearch(
    env("CANOPY_LDAP_USER_BASE", default=""),
    ldap.SCOPE_SUBTREE,
    env("CANOPY_LDAP_USER_FILTER", default="(uid=%(user)s)"),
)
AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
    env("CANOPY_LDAP_GROUP_BASE", default=""),
    ldap.SCOPE_SUBTREE,
    env("CANOPY_LDAP_GROUP_FILTER", default="(objectClass=*)"),
)
# Nested groups: a member of a group that is a member of a mapped group holds its role.
_LDAP_GROUP_TYPES = {
    "nested_group_of_names": NestedGroupOfNamesType,
    "nested_active_directory": NestedActiveDirectoryGroupType,
}
_ldap_group_type = env("CANOPY_LDAP_GROUP_TYPE", default="nested_group_of_names")
if _ldap_group_type not in _LDAP_GROUP_TYPES:
    raise ImproperlyConfigured(
        f"CANOPY_LDAP_GROUP_TYPE={_ldap_group_type!r}: use one of {', '.join(_LDAP_GROUP_TYPES)}"
    )
AUTH_LDAP_GROUP_TYPE = _LDAP_GROUP_TYPES[_ldap_group_type]()
AUTH_LDAP_USER_ATTR_MAP = {
    "first_name": env("CANOPY_LDAP_ATTR_FIRST_NAME", default="givenName"),
    "last_name": env("CANOPY_LDAP_ATTR_LAST_NAME", default="sn"),
    "email": env("CANOPY_LDAP_ATTR_EMAIL", default="mail"),
}
AUTH_LDAP_ALWAYS_UPDATE_USER = True
AUTH_LDAP_CONNECTION_OPTIONS = {ldap.OPT_REFERRALS: 0, ldap.OPT_NETWORK_TIMEOUT: 10}
if env("CANOPY_LDAP_CA_FILE", default=""):  # a private CA for StartTLS / LDAPS
    AUTH_LDAP_CONNECTION_OPTIONS |= {
        ldap.OPT_X_TLS_CACERTFILE: env("CANOPY_LDAP_CA_FILE"),
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_NEWCTX: 0,  # last: applies the options above to this connection
    }
# Minutes between re-reads of every LDAP user (roles follow their groups, the disabled and the
# departed lose their sessions' use and their tokens) without waiting for their next sign-in.
CANOPY_LDAP_SYNC_MINUTES = env.int("CANOPY_LDAP_SYNC_MINUTES", default=15)
if AUTH_LDAP_SERVER_URI:
    CELERY_BEAT_SCHEDULE["directory-sync"] = {
        "task": "identity.tasks.directory_sync",
        "schedule": timedelta(minutes=CANOPY_LDAP_SYNC_MINUTES),
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"expected_refusals": {"()": "portal.logging.ExpectedRefusalsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 or 404 is an answer, not a fault: one line, no traceback (500s keep theirs).
        "django.request": {"filters": ["expected_refusals"]},
    },
}
