"""Test settings: the dev environment plus fast password hashing. Tasks still go to a broker."""

from hub.settings.dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUB_KEY_CACHE_SECONDS = 2

# Fault injection for the kill-and-resume tests: a worker started with this set pauses right
# after the named workflow step's checkpoint, or at the named `hub.faults.fault_point`
# ("projector.batch_applied", "webhook.posted"), so the test can kill it there (tests/e2e,
# tests/fault).
HUB_FAULT_PAUSE_AFTER_STEP = env.str("HUB_FAULT_PAUSE_AFTER_STEP", default="")  # noqa: F405
