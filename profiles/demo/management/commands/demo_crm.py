"""`manage.py demo_crm`: a CRM beside the demo hub, for the README's connector step.

Creates (once) a database `hub_demo_crm` on the hub's own PostgreSQL server with customers and
orders of the walkthrough's user `bob.smith` and of someone else, adds its DSN to `.env.local`
under `HUB_CONNECTOR_DEMO_CRM_DSN` (dev only: `make run` loads that file, so restart it), and
writes `.run/demo-crm.toml`, the connector's declaration to import with
`manage.py connectors import .run/demo-crm.toml`. In production a CRM is your own database and
the DSN comes from your secret store (docs/DEPLOYMENT.md, "Connectors").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from hub.devstack import ENV_FILE, RUN_DIR

DATABASE = "hub_demo_crm"
ENV_NAME = "HUB_CONNECTOR_DEMO_CRM_DSN"
DECLARATION = """# The demo CRM: how privacy requests reach it. Import with
#   manage.py connectors import .run/demo-crm.toml
version = 1

[[connectors]]
key = "demo-crm"
name = "Demo CRM"
kind = "postgresql"
active = true
description = "Customer accounts and their orders"
identity_kind = "user_id"
dsn_env = "HUB_CONNECTOR_DEMO_CRM_DSN"
deadline_hours = 72
max_attempts = 5

[connectors.statements]
access = [
    "SELECT user_id, full_name, plan FROM customers WHERE user_id = %(identity)s",
    "SELECT item, amount FROM orders WHERE user_id = %(identity)s ORDER BY item",
]
erasure = [
    "DELETE FROM orders WHERE user_id = %(identity)s",
    "DELETE FROM customers WHERE user_id = %(identity)s",
]
"""


def _conninfo(dbname: str) -> dict[str, Any]:
    db = connection.settings_dict
    info: dict[str, Any] = {"dbname": dbname, "user": db["USER"] or "postgres"}
    options = db.get("OPTIONS") or {}
    info["host"] = options.get("host") or db["HOST"] or "127.0.0.1"
    if db.get("PORT"):
        info["port"] = str(db["PORT"])
    if db.get("PASSWORD"):
        info["password"] = db["PASSWORD"]
    return info


def _dsn(info: dict[str, Any]) -> str:
    password = f":{quote(info['password'])}" if "password" in info else ""
    if str(info["host"]).startswith("/"):
        return f"postgresql://{quote(info['user'])}{password}@/{info['dbname']}?host={quote(info['host'])}"
    port = f":{info['port']}" if "port" in info else ""
    return f"postgresql://{quote(info['user'])}{password}@{info['host']}{port}/{info['dbname']}"


class Command(BaseCommand):
    help = "Create the demo CRM database beside the hub and write its connector declaration (dev only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_crm is for the development stack (`make run`) only.")
        with psycopg.connect(**_conninfo("postgres"), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{DATABASE}"')  # nosec B608  # a module constant, no input
        info = _conninfo(DATABASE)
        with psycopg.connect(**info, autocommit=True) as crm:
            crm.execute(
                "CREATE TABLE IF NOT EXISTS customers (user_id text PRIMARY KEY, full_name text, plan text)"
            )
            crm.execute("CREATE TABLE IF NOT EXISTS orders (user_id text, item text, amount numeric(8,2))")
            if not crm.execute("SELECT 1 FROM customers").fetchone():
                crm.execute(
                    "INSERT INTO customers VALUES ('bob.smith', 'Bob Smith', 'gold'), ('ann.other', 'Ann Other', 'basic')"
                )
                crm.execute(
                    "INSERT INTO orders VALUES ('bob.smith', 'kettle', 39.90), ('bob.smith', 'teapot', 24.50),"
                    " ('ann.other', 'mug', 5.00)"
                )
        present = ENV_FILE.read_text() if ENV_FILE.exists() else ""
        if f"{ENV_NAME}=" not in present:
            with ENV_FILE.open("a") as handle:
                handle.write(f"{ENV_NAME}={_dsn(info)}\n")
            ENV_FILE.chmod(0o600)
        declaration = Path(RUN_DIR) / "demo-crm.toml"
        declaration.parent.mkdir(parents=True, exist_ok=True)
        declaration.write_text(DECLARATION)
        self.stdout.write(f"CRM database {DATABASE}: bob.smith has 1 customer row and 2 orders")
        self.stdout.write(f"{ENV_NAME} is in {ENV_FILE.name} (restart `make run` so its processes read it)")
        self.stdout.write(f"declaration: {declaration} (manage.py connectors import {declaration})")
