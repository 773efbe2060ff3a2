"""System checks of the deployment that need the database (`check --deploy --database default`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import connections

from hub.dbrole import database_role_problems


@checks.register(checks.Tags.database, deploy=True)
def check_database_role(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """hub.E001 for each way the configured role could rewrite the ledger (hub/dbrole.py)."""
    return [
        checks.Error(
            problem,
            hint="Run the web, worker and beat processes as the application role of docs/DEPLOYMENT.md.",
            id="hub.E001",
        )
        for alias in databases or ()
        for problem in database_role_problems(connections[alias])
    ]


# The record of processing activities (Art. 30(1)(a)) and every notice name these; production
# must declare them. The representative (Art. 27) and joint controllers (Art. 26) may be "none",
# but an empty value cannot be told apart from a forgotten one.
RECORD_DECLARATIONS = {
    "HUB_CONTROLLER_NAME": "the controller's name",
    "HUB_CONTROLLER_CONTACT": "the controller's contact",
    "HUB_CONTROLLER_COUNTRY": "the controller's country (ISO 3166-1 alpha-2)",
    "HUB_SUPERVISORY_AUTHORITY": "the lead supervisory authority",
    "HUB_DPO_CONTACT": "the data protection officer's contact (Art. 37)",
    "HUB_REPRESENTATIVE": 'the EU representative (Art. 27), or "none"',
    "HUB_JOINT_CONTROLLERS": 'the joint controllers (Art. 26), or "none"',
}


@checks.register()
def check_record_declarations(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """hub.E002 for each declaration production leaves empty (HUB_RECORD_DECLARATIONS_REQUIRED)."""
    if not getattr(settings, "HUB_RECORD_DECLARATIONS_REQUIRED", False):
        return []
    return [
        checks.Error(
            f"{name} is empty: the record of processing activities (GDPR Art. 30(1)(a)) needs {what}.",
            hint='Set it in the environment (docs/DEPLOYMENT.md, "The controller").',
            id="hub.E002",
        )
        for name, what in RECORD_DECLARATIONS.items()
        if not str(getattr(settings, name, "") or "").strip()
    ]
