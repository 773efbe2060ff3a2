"""Test settings: the dev environment plus fast password hashing. Tasks still go to a broker."""

from hub.settings.dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUB_KEY_CACHE_SECONDS = 2
