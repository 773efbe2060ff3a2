"""Test settings: the dev environment plus fast password hashing. Tasks still go to a broker."""

import atexit
import os
import shutil
import tempfile

from hub.settings.dev import *  # noqa: F403

# Metrics in multiprocess mode, as deployed (hub/metrics.py): one temporary directory per test run,
# shared with the worker and web processes the tests start (they inherit the environment); removed
# at exit by the process that made it. Set before anything imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hub-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUB_KEY_CACHE_SECONDS = 2

# Fault injection for the kill-and-resume tests: a worker started with this set pauses right
# after the named workflow step's checkpoint, or at the named `hub.faults.fault_point`
# ("projector.batch_applied", "webhook.posted"), so the test can kill it there (tests/e2e,
# tests/fault).
HUB_FAULT_PAUSE_AFTER_STEP = env.str("HUB_FAULT_PAUSE_AFTER_STEP", default="")  # noqa: F405

# The browser endpoints' throttles count in this process's memory cache for the whole run, where
# the suite's thousands of calls from 127.0.0.1 would trip the production rates. The throttle tests
# set small rates themselves (tests/security/test_browser_throttles.py).
HUB_COLLECT_IP_RATE = "1000000/minute"
HUB_COLLECT_SITE_RATE = "1000000/minute"
HUB_COLLECT_SITE_QUOTA = "100000000/day"
