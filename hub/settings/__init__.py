"""Settings package: `base` is shared; `dev`, `test` and `production` add what differs.

Pick one with DJANGO_SETTINGS_MODULE. Every entry point (manage.py, hub.wsgi, hub.asgi, hub.celery)
defaults to `hub.settings.production`, which refuses to start without its secrets; the dev launcher
(`make run`, `python -m hub.devstack exec -- …`) sets `hub.settings.dev` explicitly.
"""
