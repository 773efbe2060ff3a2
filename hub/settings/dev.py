"""Development settings: `make run` writes the generated dev secrets to `.env.local`."""

import environ

from hub.settings import _localenv  # noqa: F401  (loads .env.local before base reads it)
from hub.settings.base import *  # noqa: F403

DEBUG = environ.Env().bool("DJANGO_DEBUG", default=True)
# Local webhook receivers speak plain http (production.py requires https).
HUB_OUTBOUND_HTTPS_ONLY = environ.Env().bool("HUB_OUTBOUND_HTTPS_ONLY", default=False)
# `/metrics` answers any loopback client (production: a token or a network rule, base.py).
HUB_METRICS_OPEN_TO_LOOPBACK = True
