"""Production settings: everything from the environment, nothing generated, secure cookies."""

from django.core.exceptions import ImproperlyConfigured

from hub.settings.base import *  # noqa: F403
from hub.settings.base import env

DEBUG = False
# Verification links, notices to subjects and deadline alerts are legal duties: no file-mail default.
if "EMAIL_URL" not in env:
    raise ImproperlyConfigured("Set the EMAIL_URL environment variable (e.g. smtp+tls://…).")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
