"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

# production unless told otherwise: a forgotten variable must not mean DEBUG (invariant 30)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.production")
application = get_asgi_application()
