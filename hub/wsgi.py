"""WSGI entry point (gunicorn hub.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

# production unless told otherwise: a forgotten variable must not mean DEBUG (invariant 30)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.production")
application = get_wsgi_application()
