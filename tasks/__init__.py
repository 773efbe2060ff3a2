"""Celery entry points: thin tasks that take ids, call a service, and are safe to run twice."""
