"""Test-only fault points: a process whose settings name a point stops there so a test can kill it.

Only hub/settings/test.py defines `HUB_FAULT_PAUSE_AFTER_STEP`; everywhere else the setting is
absent and every point is a no-op (tests/fault, tests/e2e).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)


def fault_point(name: str) -> None:
    """Pause (for an hour: until the test kills this process) when the test settings name this point."""
    if settings.HUB_FAULT_PAUSE_AFTER_STEP == name:
        logger.warning("fault injection: pausing at %s", name)
        time.sleep(3600)
