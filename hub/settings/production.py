"""Production settings: everything from the environment, nothing generated, secure cookies."""

from django.core.exceptions import ImproperlyConfigured

from hub.logging_context import log_format, logging_with_format
from hub.settings.base import *  # noqa: F403
from hub.settings.base import env

DEBUG = False
# Web, worker and beat refuse to start on a database role that could rewrite the ledger
# (hub/dbrole.py); `manage.py migrate` runs as the owner and is not checked.
HUB_DATABASE_ROLE_CHECK = env.bool("HUB_DATABASE_ROLE_CHECK", default=True)
MIDDLEWARE = ["hub.dbrole.DatabaseRoleCheck", *MIDDLEWARE]  # noqa: F405  # built once, at web start
# One JSON object per log line, for a collector (docs/DEPLOYMENT.md, "Logs"); HUB_LOG_FORMAT=plain for text.
HUB_LOG_FORMAT = log_format(production=True)
LOGGING = logging_with_format(LOGGING, HUB_LOG_FORMAT)  # noqa: F405
# Who the controller is, is the operator's to declare: no demo identity in production (the
# record of processing activities says "not stated" until it is set).
HUB_CONTROLLER_NAME = env.str("HUB_CONTROLLER_NAME", default="")
HUB_CONTROLLER_CONTACT = env.str("HUB_CONTROLLER_CONTACT", default="")
HUB_CONTROLLER_COUNTRY = env.str("HUB_CONTROLLER_COUNTRY", default="")
HUB_SUPERVISORY_AUTHORITY = env.str("HUB_SUPERVISORY_AUTHORITY", default="")
# ...and the system check hub.E002 refuses to pass until they, the DPO's contact, the EU
# representative and the joint controllers are declared ("none" for the last two where so).
HUB_RECORD_DECLARATIONS_REQUIRED = True
# Verification links, notices to subjects and deadline alerts are legal duties: no file-mail default.
if "EMAIL_URL" not in env:
    raise ImproperlyConfigured("Set the EMAIL_URL environment variable (e.g. smtp+tls://…).")

# --- HTTPS (the headers every environment sends are in base.py and hub/security.py) ----------
# The reverse proxy in front of gunicorn terminates TLS and must set X-Forwarded-Proto itself
# (overwriting what the client sent).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True  # the portal's language switcher
SESSION_COOKIE_HTTPONLY = True
# Plain-HTTP requests are redirected to HTTPS; turn off only where the proxy already does it.
# /healthz and /livez are exempt: a load balancer's or process manager's plain-HTTP probe sees the truth.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
# ...and so is /metrics: Prometheus scrapes gunicorn directly, inside the network (HUB_METRICS_*).
SECURE_REDIRECT_EXEMPT += [r"^metrics$"]
# HSTS (sent on HTTPS responses only). Start a new domain with a small DJANGO_HSTS_SECONDS.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is the apex domain owner's decision (the hub usually runs on a subdomain of the
# shop's domain), so it is off by default and its deploy-check reminder is silenced only then.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Webhooks carry subject ids and signatures: never over plain http.
HUB_OUTBOUND_HTTPS_ONLY = True
# Superusers and the admin role sign in with a TOTP code as well as their password.
HUB_ADMIN_TOTP_REQUIRED = True
