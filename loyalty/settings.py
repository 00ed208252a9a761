"""Every setting comes from the environment, here and nowhere else (django-environ).

Defaults give a working development site: SQLite, Celery eager, console email.
Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from loyalty.secret_key import DEVELOPMENT_KEY, require_production_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# With DEBUG off a missing, public (the development one) or guessable key stops the start:
# sessions, card QR tokens and email confirmations are signed with it.
SECRET_KEY = env("SECRET_KEY", default="") or (DEVELOPMENT_KEY if DEBUG else "")
if not DEBUG:
    require_production_key(SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Before the admin: its TranslationAdmin forms and the translation fields it adds.
    "modeltranslation",
    "loyalty.admin_site.LoyaltyAdminConfig",  # django.contrib.admin with a "System" section
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # unaccent and trigram look-ups (the till's name search)
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "axes",
    "csp",
    "accounts",
    "loyalty",
    "rewards",
]

MIDDLEWARE = [
    # First: a load balancer's /healthz probe skips the SSL redirect, host check and session.
    "loyalty.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A database outage answers 503 service_unavailable with Retry-After, not 500.
    "loyalty.outage.ServiceUnavailableMiddleware",
    "loyalty.middleware.PrivatePagesNoStoreMiddleware",
    # Axes last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "loyalty.urls"
WSGI_APPLICATION = "loyalty.wsgi.application"

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
                "django.template.context_processors.i18n",
                "loyalty.portal.context.portal",
            ],
        },
    },
]

# An empty DATABASE_URL means unset, as it does for REDIS_URL.
DATABASES = {"default": env.db_url_config(
    env("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # An unreachable server fails a request in seconds (503, loyalty.outage), not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Waits for the write lock instead of failing at once when two requests write.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Redis is a cache, not the source of truth: the backend fails open to a per-process
    # cache when Redis does not answer, and short timeouts make a dead Redis fail fast.
    CACHES = {"default": {
        "BACKEND": "loyalty.redis_cache.FailOpenRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {
            "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
            "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
        },
    }}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions live in the database, never in the cache: logins survive Redis going away.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # With DEBUG off: the demo logins' published password is refused.
    "accounts.backends.RefuseDemoPassword",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# django-allauth: email is the login; customers must confirm it before it links
# them to anybody's points.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# Signing up does the same work whether the email has an account (no timing oracle).
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# For the file backend (django.core.mail.backends.filebased.EmailBackend): where it writes.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
# django-anymail, for a real provider: EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend
# and its settings as ANYMAIL_<NAME> variables (ANYMAIL_MAILGUN_API_KEY=...,
# ANYMAIL_WEBHOOK_SECRET=user:password). The tracking webhooks (bounces, complaints) are
# served at /anymail/<provider>/tracking/ only once ANYMAIL_WEBHOOK_SECRET is set: without
# it anyone could report an address as bouncing.
ANYMAIL = {name.removeprefix("ANYMAIL_"): value for name, value in os.environ.items()
           if name.startswith("ANYMAIL_") and value}

# django-axes: lock out brute-force logins per user name and address together, so that one
# address failing on many accounts locks out none of them, nor the others behind it.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # not the cache one: see Redis
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# allauth authenticates with email=..., the admin with username=...: both are read.
AXES_USERNAME_CALLABLE = "accounts.lockout.username_of"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
# How many reverse proxies (each adding to X-Forwarded-For) stand in front of the app: 0
# reads REMOTE_ADDR; behind one nginx, 1. Axes and allauth's rate limits both follow it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One format per language for dates and numbers ("29 nov. 2026", "29 Nov 2026").
FORMAT_MODULE_PATH = ["loyalty.formats"]
# Staff-typed texts (loyalty/translation.py, rewards/translation.py): English is the
# language staff must fill, and what a French reader sees where French is empty.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_LANGUAGES = ("en", "fr")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
# A text given without its language (Tier(name=...)) also fills the English column when
# empty, whatever language is active: the fallback is never missing.
MODELTRANSLATION_AUTO_POPULATE = "required"
TIME_ZONE = env("TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"

# Content Security Policy: no inline scripts or styles anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Production hardening: on whenever DEBUG is off (`manage.py check --deploy` is clean).
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "loyalty.api.auth.ApiKeyAuthentication",
        "loyalty.api.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["loyalty.api.auth.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["loyalty.api.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["loyalty.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env("API_THROTTLE_RATE", default="1200/min")},
    "EXCEPTION_HANDLER": "loyalty.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty programme API",
    "DESCRIPTION": "The e-shop's interface to members, points, purchases and rewards. "
                   "Errors: {\"error\": {\"code\", \"message\", \"fields\"}}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RewardKindEnum": "rewards.api.REWARD_KINDS",
        "TransactionKindEnum": "loyalty.api.serializers.TRANSACTION_KINDS",
        "StageEnum": "loyalty.api.serializers.STAGES",
    },
}
# How long an Idempotency-Key's first response is kept for replays.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# Celery: eager (in-process) unless a broker is configured.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing with the broker down must fail fast (callers catch it and leave the work to
# a sweeper), not hang a request retrying: one short connection attempt, one quick retry.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0,
                                    "interval_step": 0.2, "interval_max": 0.2}
# Workers and beat, though, wait for the broker to come back, at start-up and after.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# How long a task taken by a worker that died stays invisible before Redis hands it out
# again. No task waits long in the broker (webhook retries are due times in the database,
# task retries wait at most 10 minutes), so this can be short; it must exceed the longest
# task, the insight run (about 70 s at a million members) and imports (leased, 30 min).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 45 * 60}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "release-pending-points": {
        "task": "loyalty.tasks.release_pending_points",
        "schedule": crontab(minute="*/15"),
    },
    "expire-points": {
        "task": "loyalty.tasks.expire_points",
        "schedule": crontab(hour=2, minute=10),
    },
    "reevaluate-tiers": {
        "task": "loyalty.tasks.reevaluate_tiers",
        "schedule": crontab(hour=3, minute=20),
    },
    # After the tiers (segment rules may use them); the run skips if one is still going.
    "compute-insight": {
        "task": "loyalty.tasks.compute_insight",
        "schedule": crontab(hour=3, minute=40),
    },
    "expire-vouchers": {
        "task": "rewards.tasks.expire_vouchers",
        "schedule": crontab(hour=2, minute=40),
    },
    # The webhook outbox: sends what is due (new, to retry, or lost by a broker or worker).
    "dispatch-webhooks": {
        "task": "loyalty.tasks.dispatch_webhooks",
        "schedule": crontab(minute="*"),
    },
    "purge-idempotency-records": {
        "task": "loyalty.tasks.purge_idempotency_records",
        "schedule": crontab(hour=4, minute=0),
    },
    "notify-expiring-points": {
        "task": "loyalty.tasks.notify_expiring_points",
        "schedule": crontab(hour=9, minute=30),
    },
    # Members' messages: the journeys fire hourly; the outbox is swept every minute.
    "run-journeys": {
        "task": "loyalty.tasks.run_journeys",
        "schedule": crontab(minute=5),
    },
    "dispatch-messages": {
        "task": "loyalty.tasks.dispatch_messages",
        "schedule": crontab(minute="*"),
    },
    # Campaigns scheduled for now or earlier (each sent once, however often this runs).
    "send-due-campaigns": {
        "task": "loyalty.tasks.send_due_campaigns",
        "schedule": crontab(minute="*/5"),
    },
    "requeue-stalled-imports": {
        "task": "loyalty.tasks.requeue_stalled_imports",
        "schedule": crontab(minute="*/5"),
    },
}

# The bounds the purchase ingestion accepts (the currency is in the programme settings).
LOYALTY_MAX_PURCHASE_AMOUNT = env("LOYALTY_MAX_PURCHASE_AMOUNT", default="100000.00")
# The till: an amount above LOYALTY_TILL_CONFIRM_ABOVE is recorded only once the cashier
# confirms it (empty: never asked); a voucher used by mistake may be put back by a manager
# of the store for LOYALTY_VOUCHER_UNDO_MINUTES after it was used.
LOYALTY_TILL_CONFIRM_ABOVE = env("LOYALTY_TILL_CONFIRM_ABOVE", default="1000.00")
LOYALTY_VOUCHER_UNDO_MINUTES = env.int("LOYALTY_VOUCHER_UNDO_MINUTES", default=10)
# How far in the future a purchase's occurred_at may be (clock skew of tills).
LOYALTY_CLOCK_SKEW = timedelta(minutes=env.int("LOYALTY_CLOCK_SKEW_MINUTES", default=10))
# Receipts of sales recorded without a member carry a claim code: the customer can make the
# purchase theirs for this many days after it (loyalty.services.claims).
LOYALTY_RECEIPT_CLAIM_DAYS = env.int("LOYALTY_RECEIPT_CLAIM_DAYS", default=30)
# Staff uploads (imports of purchases and members): the largest file accepted, and how long
# a running import may go without reporting progress before the sweeper runs it again.
LOYALTY_IMPORT_MAX_BYTES = env.int("LOYALTY_IMPORT_MAX_MB", default=25) * 1024 * 1024
LOYALTY_IMPORT_LEASE_MINUTES = env.int("LOYALTY_IMPORT_LEASE_MINUTES", default=30)
# How long a row of the outbox (a webhook delivery) handed to a worker is that worker's
# before the dispatcher sends it again (a hand-over lost with the broker, a dead worker).
LOYALTY_OUTBOX_LEASE_SECONDS = env.int("LOYALTY_OUTBOX_LEASE_SECONDS", default=120)
# Messages to members. Links in them point at LOYALTY_SITE_URL. Marketing messages: at most
# this many per member in 7 days and in a day, none in the quiet hours (local, start-end:
# held until the end). SMS go through LOYALTY_SMS_BACKEND (a class with send(to=, text=)).
LOYALTY_SITE_URL = env("LOYALTY_SITE_URL", default="http://127.0.0.1:8000")
LOYALTY_MARKETING_PER_WEEK = env.int("LOYALTY_MARKETING_PER_WEEK", default=2)
LOYALTY_MARKETING_PER_DAY = env.int("LOYALTY_MARKETING_PER_DAY", default=1)
LOYALTY_QUIET_HOURS = tuple(env.list("LOYALTY_QUIET_HOURS", cast=int, default=[21, 8]))
LOYALTY_SMS_BACKEND = env("LOYALTY_SMS_BACKEND",
                          default="loyalty.services.messaging.channels.ConsoleSmsBackend")
# Webhooks go to public addresses only (loyalty/services/netguard.py), unless this is on.
LOYALTY_WEBHOOK_ALLOW_PRIVATE = env.bool("LOYALTY_WEBHOOK_ALLOW_PRIVATE", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
