"""System checks of the deployment that need the database (`check --deploy --database default`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
