"""Settings shared by every environment, read from the environment (django-environ).

Secrets (DJANGO_SECRET_KEY, HUB_KEK, HUB_LEDGER_SIGNING_KEY) and DATABASE_URL have no
defaults here: a missing one stops the process at start-up instead of running weakened.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import environ

from hub.logging_context import log_format

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "hub.apps.HubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "auditlog",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "audit.apps.AuditConfig",
    "consent.apps.ConsentConfig",
    "profiles.apps.ProfilesConfig",
    "profiles.requests.apps.PrivacyRequestsConfig",
    "profiles.portal.apps.PortalConfig",
    "hub.ratelimit.apps.RateLimitConfig",
    "hub.health.apps.HealthConfig",
    "hub.config.apps.ConfigVersionConfig",
    "profiles.browser.apps.BrowserConfig",
    "profiles.demo.apps.DemoConfig",
    "profiles.officers.apps.OfficersConfig",
    "profiles.activation.apps.ActivationConfig",
]

MIDDLEWARE = [
    "hub.logging_context.RequestIdMiddleware",  # first: every later log line carries the request id
    "django.middleware.security.SecurityMiddleware",
    "hub.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the person's choice (cookie), else Accept-Language
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into a 429
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
ASGI_APPLICATION = "hub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "hub" / "templates"],
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

# PostgreSQL only: the ledger relies on triggers, xid8 and snapshots.
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A session left idle inside a transaction holds back the ledger's safe read horizon
# (pg_snapshot_xmin), stalling every projector; PostgreSQL ends such sessions for us.
_idle_ms = env.int("HUB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=30_000)
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    f"-c idle_in_transaction_session_timeout={_idle_ms}"
)
# Read replica (optional; hub/db_router.py): a PostgreSQL streaming standby that serves downstream
# services' profile and segment-member reads. Everything else (writes, the ledger's consumers,
# consent decisions) stays on the primary; a replica that is down or lags more than
# HUB_REPLICA_MAX_LAG_SECONDS is skipped (checked at most every HUB_REPLICA_CHECK_SECONDS).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"].setdefault("OPTIONS", {}).update(
        options=f"-c idle_in_transaction_session_timeout={_idle_ms}",
        connect_timeout=env.int("HUB_REPLICA_CONNECT_TIMEOUT", default=2),
        application_name="hub-replica-read",
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests never build a second test database
DATABASE_ROUTERS = ["hub.db_router.PrimaryReplicaRouter"]
HUB_CLUSTER_SAMPLE = env.int(
    "HUB_CLUSTER_SAMPLE", default=5000
)  # people a cluster model is fitted on (a uniform sample)
HUB_REPLICA_MAX_LAG_SECONDS = env.float("HUB_REPLICA_MAX_LAG_SECONDS", default=5.0)
HUB_REPLICA_CHECK_SECONDS = env.float("HUB_REPLICA_CHECK_SECONDS", default=2.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The largest request body accepted (a 1 MB collection batch plus its envelope); more is a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("HUB_MAX_REQUEST_BYTES", default=1_100_000)

# --- Officers' sign-in (the admin; hub/admin_site.py) ---------------------------------------------
# django-axes counts failed sign-ins per user name and per client address (REMOTE_ADDR, like the
# portal's limits): either one reaching the limit locks it out, right password or not, until
# the cool-off ends or an administrator resets it (`manage.py axes_reset_username …`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("HUB_ADMIN_LOGIN_ATTEMPTS", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("HUB_ADMIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_STR_CALLABLE = "hub.admin_auth.axes_client_str"  # no user name or address in the logs
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp_token"]  # masked in its records
# TOTP second factor (django-otp): asked of every officer who enrolled a device; required for
# superusers and these groups when HUB_ADMIN_TOTP_REQUIRED is on (always, in production.py).
HUB_ADMIN_TOTP_REQUIRED = env.bool("HUB_ADMIN_TOTP_REQUIRED", default=False)
HUB_ADMIN_TOTP_GROUPS = env.list("HUB_ADMIN_TOTP_GROUPS", default=["admin"])
OTP_TOTP_ISSUER = env.str("HUB_OTP_ISSUER", default="Privacy hub")
# An authenticator's secret is shown once, by `manage.py totp_enroll`, never again in the admin.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Officers' sessions last a working day at most and end with the browser; the portal sets its own,
# shorter expiry on each session it opens (HUB_PORTAL_SESSION_MINUTES).
SESSION_COOKIE_AGE = min(env.int("HUB_ADMIN_SESSION_HOURS", default=8), 8) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The portal, the banner's words, e-mails to people, exports and the officers' own pages come in
# these languages: the person's choice (the language cookie, set by /i18n/setlang/), else their
# browser's Accept-Language. One catalog for the whole project: `make messages` (README).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".run" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["consent.authentication.ServiceKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["consent.permissions.HasServiceScope"],
    "DEFAULT_SCHEMA_CLASS": "hub.schema.HubAutoSchema",
    "EXCEPTION_HANDLER": "hub.api.exception_handler",
    # JSON only: every API body is JSON, and form or multipart parsing is attack surface nobody uses
    # (anything else is a 415 unsupported_media_type). The browser endpoints read their bodies
    # themselves (profiles.browser), as sendBeacon posts text/plain.
    "DEFAULT_PARSER_CLASSES": ["hub.api.StorableJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Client addresses come from REMOTE_ADDR; X-Forwarded-For only when the operator says how many
    # proxies in front of the hub append to it (DRF's default, None, would trust a forged one).
    "NUM_PROXIES": env.int("HUB_NUM_PROXIES", default=0),
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Privacy & consent hub API",
    "DESCRIPTION": (
        "Collection, consent and consented reads for downstream services, and the "
        "ledger's public verification data. Authenticate with `Authorization: Bearer <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Ledger and keys -------------------------------------------------------------
# Key-encryption key: 32 random bytes, urlsafe base64. Older KEKs stay listed in
# HUB_KEK_PREVIOUS until `manage.py ledger rotate-kek` has re-wrapped every live key.
HUB_KEK = env.str("HUB_KEK")
HUB_KEK_PREVIOUS = env.list("HUB_KEK_PREVIOUS", default=[])
# Ed25519 private key (32 raw bytes, urlsafe base64) that signs Merkle tree heads and receipts.
HUB_LEDGER_SIGNING_KEY = env.str("HUB_LEDGER_SIGNING_KEY")
# Public keys (32 raw bytes, urlsafe base64) of retired signing keys: heads they signed still verify.
HUB_LEDGER_PUBLIC_KEYS_PREVIOUS = env.list("HUB_LEDGER_PUBLIC_KEYS_PREVIOUS", default=[])
# Secret pepper for keyed hashes of identifiers (HMAC-SHA256); 32 bytes, urlsafe base64.
HUB_IDENTIFIER_PEPPER = env.str("HUB_IDENTIFIER_PEPPER")
# Data keys belong to (subject, purpose, epoch); the epoch is "month", "week" or "day".
HUB_KEY_EPOCH = env.str("HUB_KEY_EPOCH", default="month")
# Upper bound (seconds) for a shredded key to stay usable in another process's cache.
HUB_KEY_CACHE_SECONDS = env.int("HUB_KEY_CACHE_SECONDS", default=30)
# and how many unwrapped data keys a process keeps at most (the oldest put goes first)
HUB_KEY_CACHE_ENTRIES = env.int("HUB_KEY_CACHE_ENTRIES", default=20000)
HUB_MAX_PAYLOAD_BYTES = env.int("HUB_MAX_PAYLOAD_BYTES", default=64 * 1024)
HUB_SEAL_INTERVAL_SECONDS = env.float("HUB_SEAL_INTERVAL_SECONDS", default=5.0)
# Erasure log (audit/erasure_log.py): an append-only file, outside the database, where every key shred
# is recorded (key ids, subject ids, times: no personal data) so that `manage.py erasures_replay`
# can re-apply, on a restored backup, the erasures made after it. Empty: not written (development).
HUB_ERASURE_LOG = env.str("HUB_ERASURE_LOG", default="")


# --- The controller (named in consent receipts, exports and notices) ----------------
HUB_CONTROLLER_NAME = env.str("HUB_CONTROLLER_NAME", default="Demo Shop Ltd")
HUB_CONTROLLER_CONTACT = env.str("HUB_CONTROLLER_CONTACT", default="privacy@demo-shop.example")
HUB_CONTROLLER_COUNTRY = env.str("HUB_CONTROLLER_COUNTRY", default="FR")
HUB_SUPERVISORY_AUTHORITY = env.str(
    "HUB_SUPERVISORY_AUTHORITY", default="CNIL, 3 Place de Fontenoy, 75007 Paris, https://www.cnil.fr"
)
# What only the operator can declare in the record of processing activities (consent/ropa.py):
# empty shows as "not stated", never as a guess.
HUB_DPO_CONTACT = env.str("HUB_DPO_CONTACT", default="")
HUB_ROPA_TRANSFERS = env.str("HUB_ROPA_TRANSFERS", default="")
HUB_ROPA_OTHER_RECIPIENTS = env.str("HUB_ROPA_OTHER_RECIPIENTS", default="")
# Art. 27 representative in the EU and Art. 26 joint controllers (besides the services classified
# as one): "none" declares there is none; empty is "not stated" (an error in production).
HUB_REPRESENTATIVE = env.str("HUB_REPRESENTATIVE", default="")
HUB_JOINT_CONTROLLERS = env.str("HUB_JOINT_CONTROLLERS", default="")
# Art. 30(1)(c): the categories of data subjects, separated by ";" in the environment.
HUB_ROPA_DATA_SUBJECTS = [
    category.strip()
    for category in env.str(
        "HUB_ROPA_DATA_SUBJECTS",
        default="Visitors of the controller's websites and apps (known by a device id); "
        "Customers and account holders (known by a user id or an email address)",
    ).split(";")
    if category.strip()
]
# The declarations above that the record of processing activities needs: production requires them
# (hub.checks, hub.E002); development runs on the demo identity.
HUB_RECORD_DECLARATIONS_REQUIRED = False
# Consents expire after this many days (13 months, CNIL); refusals are remembered this long.
HUB_CONSENT_LIFETIME_DAYS = env.int("HUB_CONSENT_LIFETIME_DAYS", default=395)
HUB_REFUSAL_MEMORY_DAYS = env.int("HUB_REFUSAL_MEMORY_DAYS", default=183)
# Retention of the hub's own records (consent/own_records.py, enforced by the daily retention job).
# Identity links: months after the subject's last activity (25: the 13-month consent lifetime plus a
# year in which a returning person is still recognised). Consent records: years after a decision stops
# standing (5: CNIL's recommendation for proof of consent, the French civil limitation period).
HUB_IDENTITY_RETENTION_MONTHS = env.int("HUB_IDENTITY_RETENTION_MONTHS", default=25)
HUB_CONSENT_RECORD_YEARS = env.int("HUB_CONSENT_RECORD_YEARS", default=5)
# IAB TCF: the controller's own vendor id in the Global Vendor List. When set, a TC string grants a
# consent-based purpose only if it also holds consent for this vendor (consent/tcf.py). Empty: not checked.
HUB_TCF_VENDOR_ID = env.int("HUB_TCF_VENDOR_ID", default=None)
# Collection: how far in the future a client's timestamp may be; events outside the tracking plan.
HUB_CLOCK_SKEW_SECONDS = env.int("HUB_CLOCK_SKEW_SECONDS", default=300)
HUB_ACCEPT_UNPLANNED_EVENTS = env.bool("HUB_ACCEPT_UNPLANNED_EVENTS", default=True)
HUB_MAX_BATCH_EVENTS = env.int("HUB_MAX_BATCH_EVENTS", default=1000)
# Clients that cannot send message ids: dedup resends by a keyed hash of the event within this
# window (seconds). 0 (the default) requires a message id on every event.
HUB_SIGNATURE_DEDUP_SECONDS = env.int("HUB_SIGNATURE_DEDUP_SECONDS", default=0)
# How long the outcome of an event the ledger does not keep (invalid, no purpose) can be looked up
# by its message id (GET /api/v1/events/outcomes); counts (OutcomeCount) are kept regardless.
HUB_UNSTORED_OUTCOME_DAYS = env.int("HUB_UNSTORED_OUTCOME_DAYS", default=7)
# How long a consent decision may be served from a process's gate cache (seconds).
HUB_GATE_CACHE_SECONDS = env.float("HUB_GATE_CACHE_SECONDS", default=2.0)
HUB_TRUSTED_JURISDICTION_HEADER = env.str("HUB_TRUSTED_JURISDICTION_HEADER", default="")


# --- Privacy requests -------------------------------------------------------------
# Which request types wait for an officer's approval before the work starts (erasure by default).
HUB_REQUESTS_NEEDING_APPROVAL = env.list("HUB_REQUESTS_NEEDING_APPROVAL", default=["erasure"])
# Business days (CCPA acknowledgement) skip weekends and these ISO dates (e.g. state holidays).
HUB_BUSINESS_HOLIDAYS = env.list("HUB_BUSINESS_HOLIDAYS", default=[])
# Email verification links, export download links, and how long closed case records are kept
# (CCPA §7101: at least 24 months); what the person wrote goes after the same period (own_records.py).
HUB_VERIFICATION_LINK_HOURS = env.int("HUB_VERIFICATION_LINK_HOURS", default=72)
HUB_EXPORT_LINK_DAYS = env.int("HUB_EXPORT_LINK_DAYS", default=7)
HUB_REQUEST_RECORD_MONTHS = env.int("HUB_REQUEST_RECORD_MONTHS", default=24)
# A running case holds a lease this long; beat resumes a case whose worker died once it lapses.
HUB_REQUEST_LEASE_SECONDS = env.int("HUB_REQUEST_LEASE_SECONDS", default=120)
HUB_REQUEST_MAX_ATTEMPTS = env.int("HUB_REQUEST_MAX_ATTEMPTS", default=5)
# A closed case whose downstream systems never settled keeps the person's identifiers (sealed under
# the case's key) this long for officers to finish by hand; then its key is destroyed.
HUB_CONNECTOR_CASE_KEEP_DAYS = env.int("HUB_CONNECTOR_CASE_KEEP_DAYS", default=30)
# Encrypted export files live here (never under STATIC_ROOT or a public media URL).
HUB_EXPORT_ROOT = env.path("HUB_EXPORT_ROOT", default=BASE_DIR / ".run" / "exports")
# The address links in emails point to (the portal and the download links).
HUB_PUBLIC_URL = env.str("HUB_PUBLIC_URL", default="http://127.0.0.1:8000")
# Engagement score weights by feature (profiles.projection.DEFAULT_ENGAGEMENT_WEIGHTS when empty):
# {"sessions": 0.3, "page_depth": 0.2, "session_minutes": 0.2, "interactions": 0.15, "orders": 0.15}
HUB_ENGAGEMENT_WEIGHTS: dict[str, float] = {}
# Refuse to start (web, worker, beat) with a database role that could rewrite the ledger: on in
# production settings (hub/dbrole.py), off in development, where the role is the superuser.
HUB_DATABASE_ROLE_CHECK = False
# Fault injection for the kill-and-resume tests (hub/faults.py): empty everywhere but tests.
HUB_FAULT_PAUSE_AFTER_STEP = ""

# --- The self-service portal -------------------------------------------------------
# Sign-in links (emailed, or minted by a service for its signed-in user) and portal sessions.
HUB_PORTAL_LINK_MINUTES = env.int("HUB_PORTAL_LINK_MINUTES", default=15)
HUB_PORTAL_SESSION_MINUTES = env.int("HUB_PORTAL_SESSION_MINUTES", default=30)
# how long a parent has to answer a parental consent request (consent.children)
HUB_PARENTAL_CONSENT_DAYS = env.int("HUB_PARENTAL_CONSENT_DAYS", default=7)
# Sign-in and request forms: at most this many attempts per client address and per identifier
# within the window (seconds).
HUB_PORTAL_RATE_LIMIT = env.int("HUB_PORTAL_RATE_LIMIT", default=5)
HUB_PORTAL_RATE_WINDOW_SECONDS = env.int("HUB_PORTAL_RATE_WINDOW_SECONDS", default=900)
LOGIN_URL = "/portal/sign-in"

# --- Security headers and cookies (hub/security.py; HTTPS-only settings in production.py) ------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts and
# CSRF refuses them. Sign-in links carry a token in their address: it never leaves the hub.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page but the portal's (which sets a stricter one: no inline style either): scripts only
# from the hub itself, never inline; inline styles are allowed because the Django admin, the
# API docs and the verification and export pages use them. data: images for the API docs' icons.
HUB_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# The API's throttles (hub/throttling.py): attempts per service, counted in PostgreSQL like the
# portal's ("N/second", "N/minute", "N/hour" or "N/day").
HUB_API_REQUEST_RATE = env.str("HUB_API_REQUEST_RATE", default="60/minute")
HUB_API_PORTAL_LINK_RATE = env.str("HUB_API_PORTAL_LINK_RATE", default="300/minute")
# The browser endpoints' throttles (hub.throttling.CollectThrottle: /collect/* and the pixel, which
# anyone holding a public site key can call): every call per client address and per site key, and
# a site key's writes per UTC day, counted in events (a consent or a pixel hit counts one).
HUB_COLLECT_IP_RATE = env.str("HUB_COLLECT_IP_RATE", default="120/minute")
HUB_COLLECT_SITE_RATE = env.str("HUB_COLLECT_SITE_RATE", default="6000/minute")
HUB_COLLECT_SITE_QUOTA = env.str("HUB_COLLECT_SITE_QUOTA", default="1000000/day")
# They count in the default cache, which must be shared by every web process: set CACHE_URL to
# Redis (redis://host:6379/1) or memcached in production. The default, a per-process memory cache,
# lets each gunicorn worker count on its own (N workers: up to N times the rate).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Outbound calls on a caller's behalf (webhooks; hub/netguard.py) ---------------------------
# Networks (CIDR) the hub may call although they are not public, e.g. a receiver on the same host.
# Empty in every settings module: an operator lists them explicitly. Tests opt in per test.
# A malformed entry stops the start-up here rather than failing each delivery later.
HUB_OUTBOUND_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(network, strict=False))
    for network in env.list("HUB_OUTBOUND_ALLOWED_NETWORKS", default=[])
]
# Webhook URLs must be https (dev.py relaxes this for local receivers; production.py insists).
HUB_OUTBOUND_HTTPS_ONLY = env.bool("HUB_OUTBOUND_HTTPS_ONLY", default=True)

# --- Metrics (`/metrics`, hub/metrics.py) ----------------------------------------------------
# Who may scrape: `Authorization: Bearer <HUB_METRICS_TOKEN>`, or a client address inside one of
# HUB_METRICS_ALLOWED_NETWORKS (CIDR; REMOTE_ADDR, so scrape gunicorn directly or from the proxy's
# own network). Anyone else gets 404. dev.py also opens it to loopback clients.
HUB_METRICS_TOKEN = env.str("HUB_METRICS_TOKEN", default="")
HUB_METRICS_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(network, strict=False))
    for network in env.list("HUB_METRICS_ALLOWED_NETWORKS", default=[])
]
HUB_METRICS_OPEN_TO_LOOPBACK = False

# --- Email (verification links, notices to subjects, deadline alerts to officers) ---------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example:587. The default writes each message to a
# file under .run/mail so a development machine sends nothing and no address reaches the logs.
if "EMAIL_URL" in env:
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(BASE_DIR / ".run" / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy-hub@localhost")


# --- Celery ------------------------------------------------------------------------
def _sqlalchemy_broker_url(db: dict[str, object]) -> str:
    """kombu's SQLAlchemy transport on the same PostgreSQL: the documented default broker."""
    options = db.get("OPTIONS") or {}
    assert isinstance(options, dict)  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    host = str(db.get("HOST") or "")
    query = {"host": options["host"]} if "host" in options else {}
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    suffix = f"?{urlencode(query)}" if query else ""
    return f"sqla+postgresql+psycopg://{db['USER']}{password}@{host}{port}/{db['NAME']}{suffix}"


CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_sqlalchemy_broker_url(DATABASES["default"]))
CELERY_TASK_ALWAYS_EAGER = False  # never run tasks inline: a missing broker is an error
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".run" / "celerybeat-schedule")
# One queue per concern, so each can get its own worker group (`celery -A hub worker -Q
# projections`) and a long export never waits behind a projection backlog. A worker started
# without -Q consumes every queue listed here (`make run`, the tests). docs/DEPLOYMENT.md.
CELERY_TASK_DEFAULT_QUEUE = "celery"  # ledger.*, system.*, consent.*
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {
    "celery": {},
    "ingest": {},  # side effects of collection: the projector nudge sent on each accepted batch
    "projections": {},
    "requests": {},
    "webhooks": {},
}
CELERY_TASK_ROUTES = {
    "profiles.*": {"queue": "projections"},
    "segments.*": {"queue": "projections"},
    "requests.*": {"queue": "requests"},
    "portal.*": {"queue": "requests"},
    "webhooks.*": {"queue": "webhooks"},
    "activation.*": {"queue": "webhooks"},  # outbound HTTP too: a slow receiver holds up nothing else
}

# Error reports (the debug page, error mails) hide every key, pepper, secret and URL password.
DEFAULT_EXCEPTION_REPORTER_FILTER = "hub.error_reports.HubExceptionReporterFilter"

# --- Logging: structured, ids only (no personal data is ever passed to a logger) ----
# Plain text lines here; one JSON object per line with HUB_LOG_FORMAT=json (production.py's default).
# Every line gets the request id and the Celery task id (hub/logging_context.py, docs/DEPLOYMENT.md "Logs").
HUB_LOG_FORMAT = log_format(production=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "hub.logging_context.JsonLineFormatter"},
    },
    "filters": {
        "context": {"()": "hub.logging_context.LogContextFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": HUB_LOG_FORMAT, "filters": ["context"]},
        "mail_admins": {  # Django's default, kept (it mails ADMINS, which the hub leaves empty)
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("HUB_LOG_LEVEL", default="INFO")},
    "loggers": {
        # django-axes announces its configuration at INFO in every process; lockouts are WARNING
        "axes.apps": {"level": "WARNING"},
        # Django's lines through the root's handler only: its default "console" handler would print
        # them a second time, as bare text, whenever DEBUG is on
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        "py.warnings": {"handlers": [], "propagate": True},  # likewise Python's warnings
    },
}
# A task received or succeeded and beat's ticks log at DEBUG unless this is on (hub/log_filters.py).
HUB_LOG_ROUTINE = env.bool("HUB_LOG_ROUTINE", default=False)
