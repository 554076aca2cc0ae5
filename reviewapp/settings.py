"""Matchdesk settings. Every deployment value comes from the environment (or a local .env file)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A missing required value fails at start with its name (django-environ raises ImproperlyConfigured).
if env.bool("READ_DOT_ENV", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
AUDIT_HMAC_KEY = env("AUDIT_HMAC_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env("REDIS_URL")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "pgtrigger",
    "axes",
    "csp",
    "matches",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before the login redirect below: the "session ended" message must be stored on the way out.
    "django.contrib.messages.middleware.MessageMiddleware",
    # Pages for a logged-in user carry customer data: never stored by a shared cache or the browser's disk cache.
    "matches.middleware.NoStoreForAuthenticatedMiddleware",
    # A NUL in the path, query or form is a 400 with a message (Postgres text cannot hold one).
    "matches.middleware.RefuseNulMiddleware",
    # An htmx request or a POST after the session ended: back to the page it came from after login, never to the
    # POST's own URL, and htmx redirects the whole page instead of swapping a login form into a panel.
    "matches.middleware.SessionEndedMiddleware",
    # Every page needs login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewapp.urls"
WSGI_APPLICATION = "reviewapp.wsgi.application"

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
                "matches.context_processors.navigation",
                "matches.context_processors.sign_in",
            ],
        },
    },
    # Plain text (the body of a notification email): nothing here is HTML, so nothing is HTML-escaped ("&" stays
    # "&"). Only templates_text/ is in it, rendered with using="text"; every page is rendered by the engine above.
    {
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates_text"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": False},
    },
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Repeated failed logins: locked per username and address for a cool-off period.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("MANIFEST_STATIC", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is a cache and a broker, never a store of truth: pages keep working from Postgres while it is away. Sessions
# live in the database (the cached_db engine raised ConnectionError on every logged-in page during an outage), and the
# cache treats an unreachable Redis as a miss (reviewapp/cache.py), with short timeouts so that nothing waits long.
CACHES = {
    "default": {
        "BACKEND": "reviewapp.cache.TolerantRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="matchdesk"),
        "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Security: production defaults unless DEBUG; each can be overridden from the environment.
SECURE = env.bool("SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles only from our own origin, no inline script, no inline style
# attribute, no eval (htmx needs none: no hx-on, no trigger filters, allowEval and its indicator styles off in
# keys.js). Behaviours that would be inline handlers or style attributes are data attributes keys.js applies.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

CELERY_BROKER_URL = REDIS_URL
# kombu's Redis transport with the fix that keeps a worker alive through a Redis outage (reviewapp/broker.py).
CELERY_BROKER_TRANSPORT = "reviewapp.broker:Transport"
# Publishing happens inside requests (after commit): a broker that is away must not hold a request for long. A refused
# connection fails at once; a silent one (a paused Redis) within the socket timeouts, twice. The BRPOP a worker waits
# in lasts 1 s, well inside socket_timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2.0,
    "socket_timeout": 2.0,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# A worker keeps reconnecting however long the broker is away (Celery's default gives up after 100 attempts).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task that acks late (a pull) keeps running through a broker outage: it needs Postgres and AWS, not Redis, and its
# message comes back after the visibility timeout if the ack was lost (pulls resume from their checkpoint).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3300)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="matchdesk")

# Matchdesk behaviour.
MATCHDESK = {
    # Retries of throttled/5xx AWS calls inside a pull: base delay in seconds, doubled with jitter.
    "RETRY_BASE_DELAY": env.float("MATCHDESK_RETRY_BASE_DELAY", default=1.0),
    "RETRY_MAX_ATTEMPTS": env.int("MATCHDESK_RETRY_MAX_ATTEMPTS", default=8),
    "AWS_CONNECT_TIMEOUT": env.float("MATCHDESK_AWS_CONNECT_TIMEOUT", default=5.0),
    "AWS_READ_TIMEOUT": env.float("MATCHDESK_AWS_READ_TIMEOUT", default=30.0),
    "PROFILE_CACHE_SECONDS": env.int("MATCHDESK_PROFILE_CACHE_SECONDS", default=300),
    "CLAIM_SECONDS": env.int("MATCHDESK_CLAIM_SECONDS", default=600),
    # Merge execution (matches/services/merges.py): the wait before re-checking after a MergeProfiles timeout or 5xx,
    # when a running job's worker counts as dead, and the backoff (base, cap) of a throttled or uncertain job.
    "MERGE_RECHECK_DELAY": env.float("MATCHDESK_MERGE_RECHECK_DELAY", default=5.0),
    "MERGE_STALE_SECONDS": env.int("MATCHDESK_MERGE_STALE_SECONDS", default=300),
    "MERGE_BACKOFF_BASE": env.float("MATCHDESK_MERGE_BACKOFF_BASE", default=15.0),
    "MERGE_BACKOFF_MAX": env.float("MATCHDESK_MERGE_BACKOFF_MAX", default=900.0),
    # S3 ingestion (services/pulls/s3.py): the S3 endpoint (blank: boto3's standard resolution; the demo and the tests
    # point it at moto's S3 server) and the records stored per transaction of one object.
    "S3_ENDPOINT_URL": env("MATCHDESK_S3_ENDPOINT_URL", default=""),
    "S3_RECORDS_PER_TRANSACTION": env.int("MATCHDESK_S3_RECORDS_PER_TRANSACTION", default=5000),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Workers and beat prove they are alive through this task (admin operations page; stale after 2 minutes).
CELERY_BEAT_SCHEDULE = {
    "matchdesk-heartbeat": {
        "task": "matches.tasks.heartbeat",
        "schedule": env.float("MATCHDESK_HEARTBEAT_SECONDS", default=30.0),
        "options": {"expires": 60},
    },
}

# Operations and the API (issue 17) -------------------------------------------------------------------------------
# One block, so that other changes to the settings above merge around it. docs/architecture.md, "Operations".
INSTALLED_APPS += ["django_prometheus"]
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "matches.observability.middleware.RequestIdMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# Probes and scrapes on the pod network speak plain HTTP: no redirect to HTTPS for them (paths without the leading /).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# /readyz: the timeout of each dependency check, seconds; a dead database connects within DB_CONNECT_TIMEOUT.
READYZ_TIMEOUT = env.float("READYZ_TIMEOUT", default=1.0)
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
# /metrics: a bearer token, and/or peers in these networks (loopback by default; REMOTE_ADDR, never X-Forwarded-For).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Logs: every record carries the request id (X-Request-ID); LOG_FORMAT=json writes one JSON object a line.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING["filters"] = {"request_id": {"()": "matches.observability.logs.RequestIdFilter"}}
LOGGING["formatters"] = {
    "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    "json": {"()": "matches.observability.logs.JsonFormatter"},
}
LOGGING["handlers"] = {
    "console": {
        "class": "logging.StreamHandler",
        "filters": ["request_id"],
        "formatter": "json" if LOG_FORMAT == "json" else "text",
    }
}

# Notifications (docs/architecture.md, "Notifications"): Django's mail over SMTP and signed webhooks.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Matchdesk <matchdesk@localhost>")
NOTIFY = {
    "EMAIL": env.bool("NOTIFY_EMAIL", default=False),
    "WEBHOOKS": env.bool("NOTIFY_WEBHOOKS", default=True),
    "BASE_URL": env("NOTIFY_BASE_URL", default="http://127.0.0.1:8000"),
    "WEBHOOK_TIMEOUT": env.float("NOTIFY_WEBHOOK_TIMEOUT", default=10.0),
    "RETRY_BASE_DELAY": env.float("NOTIFY_RETRY_BASE_DELAY", default=30.0),
    "RETRY_MAX_DELAY": env.float("NOTIFY_RETRY_MAX_DELAY", default=3600.0),
    "MAX_ATTEMPTS": env.int("NOTIFY_MAX_ATTEMPTS", default=8),
}

# Single sign-on and per-domain access (issue 17) -----------------------------------------------------------------
# OpenID Connect through mozilla-django-oidc; docs/architecture.md, "Single sign-on and domain access" (every name
# below is a contract) and README, "Single sign-on". Off unless SSO_ENABLED; the OIDC_OP_* endpoints come from the
# provider's /.well-known/openid-configuration.
SSO_ENABLED = env.bool("SSO_ENABLED", default=False)
# False: the login page offers single sign-on only, and no password logs anyone in (the password form is gone).
LOCAL_PASSWORDS = env.bool("LOCAL_PASSWORDS", default=True)
SSO_BUTTON_LABEL = env("SSO_BUTTON_LABEL", default="Log in with single sign-on")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
# The provider's end_session_endpoint: logging out of Matchdesk logs out of the provider too (RP-initiated logout).
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_OP_LOGOUT_URL_METHOD = "matches.sso.provider_logout_url"
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the logout
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=5.0)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
# Claims: the account's name, its roles from a groups claim, its domains from another.
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ROLE_GROUPS = {
    "Steward": env.list("OIDC_STEWARD_GROUPS", default=["Steward"]),
    "Admin": env.list("OIDC_ADMIN_GROUPS", default=["Admin"]),
    "Auditor": env.list("OIDC_AUDITOR_GROUPS", default=["Auditor"]),
}
# A list of domain names, "*" for every domain; empty: SSO leaves domain access to the user admin page.
OIDC_DOMAINS_CLAIM = env("OIDC_DOMAINS_CLAIM", default="matchdesk_domains")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "matches.sso.LocalPasswordBackend",
    "matches.sso.SsoBackend",
]
# Logging out is a form POST that redirects to the provider's end_session_endpoint: CSP form-action covers redirects.
if SSO_ENABLED and OIDC_OP_LOGOUT_ENDPOINT:
    from urllib.parse import urlsplit

    _logout = urlsplit(OIDC_OP_LOGOUT_ENDPOINT)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_logout.scheme}://{_logout.netloc}")

# Scale (issue 18) -------------------------------------------------------------------------------------------------
# One block, so that other changes merge around it. docs/scaling.md.
# Retention: the groups of runs superseded longer ago than this many days move to the archive (0 keeps everything);
# a group with a decision, comment or sample never moves. Daily, by beat (matches.tasks.run_retention_task).
MATCHDESK["RUN_RETENTION_DAYS"] = env.int("MATCHDESK_RUN_RETENTION_DAYS", default=0)
CELERY_BEAT_SCHEDULE["matchdesk-run-retention"] = {
    "task": "matches.tasks.run_retention_task",
    "schedule": 24 * 3600.0,
    "options": {"expires": 3600},
}
# Reports and exports read from a replica when one is named (reviewapp/dbrouter.py); writes never go there.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["reviewapp.dbrouter.ReplicaRouter"]
