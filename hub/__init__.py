"""The hub Django project: settings, URL routing, the Celery app and the dev-stack launcher."""

from hub.celery import app as celery_app

__all__ = ("celery_app",)
