"""Settings package: `base` is shared; `dev`, `test` and `production` add what differs.

Pick one with DJANGO_SETTINGS_MODULE (manage.py defaults to `hub.settings.dev`).
"""
