"""Connectors declared by officers: the rules, the file round trip, `manage.py connectors` against a
real second PostgreSQL database and a real HTTP endpoint, and the admin form."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.test import Client
from psycopg import sql

from consent.models import Service
from profiles.requests.connectors.checks import connector_check
from profiles.requests.connectors.declarations import (
    FIELDS,
    InvalidConnector,
    connector_validate,
    connectors_export,
    connectors_import,
)
from profiles.requests.connectors.signing import (
    ConnectorMisconfigured,
    connector_dsn,
    connector_secret,
    connector_sign,
    connector_signature_valid,
)
from profiles.requests.models import Connector
from tests.databases import fresh_database, server_conninfo
from tests.factories import officer, officer_client

pytestmark = pytest.mark.django_db

SELECT = "SELECT id, email FROM customers WHERE email = %(identity)s"
DELETE = "DELETE FROM customers WHERE email = %(identity)s"


def _postgresql(**changes: Any) -> dict[str, Any]:
    return {"key": "crm", "name": "CRM", "kind": "postgresql", "dsn_env": "HUB_CONNECTOR_CRM_DSN",
            "statements": {"access": [SELECT], "erasure": [DELETE]}, **changes}  # fmt: skip


def _http(**changes: Any) -> dict[str, Any]:
    return {"key": "billing", "name": "Billing", "kind": "http", "url": "https://93.184.215.14/privacy",
            "secret_env": "HUB_CONNECTOR_BILLING_SECRET", "actions": ["erasure", "access"], **changes}  # fmt: skip


def _manual(**changes: Any) -> dict[str, Any]:
    return {"key": "paper", "name": "Paper archive", "kind": "manual", "actions": ["erasure"],
            "instructions": "Shred the folder of the person.", **changes}  # fmt: skip


# --- the rules -----------------------------------------------------------------------------------
BAD = [
    ("env outside the prefix", _postgresql(dsn_env="DATABASE_URL"), "dsn_env"),
    ("the hub's key material", _http(secret_env="HUB_KEK"), "secret_env"),
    ("a lower-case env name", _postgresql(dsn_env="HUB_CONNECTOR_crm"), "dsn_env"),
    ("no DSN variable", _postgresql(dsn_env=""), "dsn_env"),
    ("another placeholder", _postgresql(statements={"erasure": ["DELETE FROM c WHERE id = %(user)s"]}), "statements"),
    ("a positional placeholder", _postgresql(statements={"erasure": [DELETE + " OR id = %s"]}), "statements"),
    ("no placeholder", _postgresql(statements={"erasure": ["DELETE FROM customers"]}), "statements"),
    ("two statements", _postgresql(statements={"erasure": [DELETE + "; DROP TABLE customers"]}), "statements"),
    ("an access statement that deletes", _postgresql(statements={"access": [DELETE]}), "statements"),
    ("a write hidden in a CTE", _postgresql(statements={"access": [
        "WITH d AS (DELETE FROM customers WHERE email = %(identity)s RETURNING *) SELECT * FROM d"]}), "statements"),
    ("SELECT INTO creates a table", _postgresql(statements={"portability": [
        "SELECT * INTO stolen FROM customers WHERE email = %(identity)s"]}), "statements"),
    ("an unknown action", _postgresql(statements={"objection": [DELETE]}), "statements"),
    ("an empty statement", _postgresql(statements={"erasure": ["  "]}), "statements"),
    ("no statements", _postgresql(statements={}), "statements"),
    ("a private URL", _http(url="http://127.0.0.1:9/privacy"), "url"),
    ("metadata address", _http(url="http://169.254.169.254/latest"), "url"),
    ("credentials in the URL", _http(url="https://user:pw@93.184.215.14/"), "url"),
    ("HTTP without secret", _http(secret_env=""), "secret_env"),
    ("HTTP without actions", _http(actions=[]), "actions"),
    ("unknown action", _http(actions=["erasure", "opt_out"]), "actions"),
    ("manual without instructions", _manual(instructions=" "), "instructions"),
    ("a field of another kind", _manual(url="https://93.184.215.14/"), "url"),
    ("statements on an HTTP connector", _http(statements={"erasure": [DELETE]}), "statements"),
    ("key not a slug", _manual(key="crm db"), "key"),
    ("unknown kind", _manual(kind="ftp"), "kind"),
    ("unknown identity kind", _manual(identity_kind="ssn"), "identity_kind"),
    ("unknown hash", _manual(identity_hash="md5"), "identity_hash"),
    ("deadline too long", _manual(deadline_hours=2161), "deadline_hours"),
    ("deadline zero", _manual(deadline_hours=0), "deadline_hours"),
    ("too many attempts", _manual(max_attempts=21), "max_attempts"),
    ("attempts not a number", _manual(max_attempts="5"), "max_attempts"),
    ("an unknown field", _manual(password="x"), "password"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fields", "field"), BAD, ids=[b[0] for b in BAD])
def test_validation_rejects_each_bad_declaration_naming_the_field(case, fields, field):
    with pytest.raises(InvalidConnector) as raised:
        connector_validate(fields)
    assert raised.value.code == "connector.invalid"
    assert raised.value.field == field, raised.value.message


def test_valid_declarations_are_normalised_and_complete():
    postgresql = connector_validate(_postgresql(statements={"erasure": DELETE + " ;", "access": [SELECT]}))
    assert postgresql["statements"] == {"access": [SELECT], "erasure": [DELETE]}  # action order, no ';'
    assert set(postgresql) == set(FIELDS) and postgresql["url"] == "" and postgresql["actions"] == []
    assert connector_validate(_http())["actions"] == ["access", "erasure"]  # one order: stable diffs
    manual = connector_validate(_manual(identity_kind="user_id", identity_hash="sha256", deadline_hours=2160))
    assert (manual["identity_kind"], manual["identity_hash"], manual["deadline_hours"]) == (
        "user_id",
        "sha256",
        2160,
    )
    literal = "SELECT * FROM customers WHERE email = %(identity)s AND note LIKE '100%%'"
    assert connector_validate(_postgresql(statements={"access": [literal]}))["statements"]["access"] == [
        literal
    ]
    cte = "WITH c AS (SELECT * FROM customers) SELECT updated_at FROM c WHERE email = %(identity)s"
    assert connector_validate(_postgresql(statements={"access": [cte]}))["statements"]["access"] == [cte]


def test_a_private_url_is_accepted_only_in_a_network_the_operator_allowed(settings):
    with pytest.raises(InvalidConnector):
        connector_validate(_http(url="http://127.0.0.1:8080/privacy"))
    settings.HUB_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert (
        connector_validate(_http(url="http://127.0.0.1:8080/privacy"))["url"]
        == "http://127.0.0.1:8080/privacy"
    )


# --- signing and secrets -----------------------------------------------------------------------
def test_the_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp():
    now = int(time.time())
    body = b'{"type":"connector.check"}'
    signature = f"sha256={connector_sign('s3cret', str(now), body)}"
    assert connector_signature_valid(secret="s3cret", timestamp=str(now), body=body, signature=signature)
    assert not connector_signature_valid(secret="other", timestamp=str(now), body=body, signature=signature)
    assert not connector_signature_valid(
        secret="s3cret", timestamp=str(now), body=body + b" ", signature=signature
    )
    assert not connector_signature_valid(
        secret="s3cret", timestamp=str(now), body=body, signature=signature, now=now + 301
    )
    assert not connector_signature_valid(secret="s3cret", timestamp="soon", body=body, signature=signature)


def test_secrets_come_from_the_named_variable_and_a_missing_one_is_named_not_shown(monkeypatch):
    connector = Connector(
        key="crm", kind="postgresql", dsn_env="HUB_CONNECTOR_CRM_DSN", secret_env="HUB_CONNECTOR_X"
    )
    monkeypatch.setenv("HUB_CONNECTOR_CRM_DSN", "postgresql://crm:hunter2@db/crm")
    assert connector_dsn(connector) == "postgresql://crm:hunter2@db/crm"
    monkeypatch.delenv("HUB_CONNECTOR_X", raising=False)
    with pytest.raises(ConnectorMisconfigured) as raised:
        connector_secret(connector)
    assert raised.value.code == "connector.misconfigured" and "HUB_CONNECTOR_X" in raised.value.message


def test_a_driver_message_that_repeats_the_dsn_is_redacted(monkeypatch):
    dsn = "host=db.internal user=crm password=hunter2-secret dbname=crm"
    monkeypatch.setenv("HUB_CONNECTOR_CRM_DSN", dsn)

    def echoing(conninfo: str, **kwargs: Any) -> None:
        raise psycopg.OperationalError(f"connection {conninfo!r} failed; password hunter2-secret rejected")

    monkeypatch.setattr("profiles.requests.connectors.checks.psycopg.connect", echoing)
    result = connector_check(Connector(**connector_validate(_postgresql())))
    assert not result.ok and "cannot connect" in result.detail
    assert "hunter2" not in result.detail and dsn not in result.detail


# --- the file form -----------------------------------------------------------------------------
@pytest.fixture
def declared(settings) -> list[Connector]:
    settings.HUB_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    service = Service.objects.create(name="Billing service", scopes=[])
    rows = [
        connector_validate(_postgresql(description="Customers and their orders.\nSecond line: ünïcode.",
                                       identity_hash="sha256", deadline_hours=24)),
        connector_validate(_http(url="http://127.0.0.1:8080/privacy", service=service, active=False)),
        connector_validate(_manual(max_attempts=1)),
    ]  # fmt: skip
    return [Connector.objects.create(**row) for row in rows]


def _declarations() -> list[dict[str, Any]]:
    return [{name: getattr(c, name) for name in FIELDS} for c in Connector.objects.order_by("key")]


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_export_then_import_is_the_identity(declared, fmt):
    before = _declarations()
    text = connectors_export(fmt)
    assert text.index("billing") < text.index("crm") < text.index("paper")  # by key
    assert "hunter" not in text and "Billing service" in text  # the service by name
    again = connectors_import(text, fmt, actor=None)
    assert again.unchanged == ("billing", "crm", "paper") and not again.created and not again.updated
    Connector.objects.all().delete()
    result = connectors_import(text, fmt, actor=None)
    assert result.created == ("billing", "crm", "paper")
    assert _declarations() == before
    assert connectors_export(fmt) == text


def test_an_import_updates_what_changed_and_records_it_in_the_audit_log(declared):
    officer_user = officer("declarer", superuser=True)
    text = connectors_export("toml").replace("Shred the folder", "Burn the folder")
    logged = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Connector))
    count = logged.count()
    dry = connectors_import(text, "toml", actor=officer_user, dry_run=True)
    assert dry.updated == ("paper",) and dry.dry_run and logged.count() == count
    assert Connector.objects.get(key="paper").instructions.startswith("Shred")
    result = connectors_import(text, "toml", actor=officer_user)
    assert result.updated == ("paper",) and result.unchanged == ("billing", "crm")
    assert Connector.objects.get(key="paper").instructions.startswith("Burn")
    entry = logged.latest("timestamp")
    assert (
        logged.count() == count + 1 and entry.actor == officer_user and entry.object_repr.startswith("Paper")
    )
    assert "instructions" in entry.changes_dict


def test_an_invalid_file_changes_nothing(declared):
    before = _declarations()
    text = connectors_export("yaml")
    text = text.replace("Shred the folder", "Burn the folder")  # a valid change…
    text = text.replace("HUB_CONNECTOR_CRM_DSN", "DATABASE_URL")  # …and an invalid one
    text += "- key: new\n  name: New\n  kind: manual\n  actions: [erasure]\n  instructions: Call them.\n"
    with pytest.raises(InvalidConnector) as raised:
        connectors_import(text, "yaml", actor=None)
    assert raised.value.field == "dsn_env" and "crm" in raised.value.message
    assert _declarations() == before
    for broken, field in [("connectors = 3", "file"), ("[[connectors]]\nkey = 'x'\nkind = 'manual'\n", "name"),
                          ("version = 2\nconnectors = []", "file"), ("not toml at all [", "file")]:  # fmt: skip
        with pytest.raises(InvalidConnector) as raised:
            connectors_import(broken, "toml", actor=None)
        assert raised.value.field == field, broken
    twice = connectors_export("toml")
    twice += twice[twice.index("[[connectors]]") :]
    with pytest.raises(InvalidConnector, match="twice"):
        connectors_import(twice, "toml", actor=None)
    unknown_service = connectors_export("toml").replace('"Billing service"', '"Nobody"')
    with pytest.raises(InvalidConnector, match="Nobody"):
        connectors_import(unknown_service, "toml", actor=None)
    assert _declarations() == before


def test_the_command_exports_and_imports_files(declared, tmp_path):
    path = tmp_path / "connectors.yaml"
    call_command("connectors", "export", "--format", "yaml", "--output", str(path), stderr=io.StringIO())
    Connector.objects.filter(key="paper").delete()
    out = io.StringIO()
    call_command("connectors", "import", str(path), "--dry-run", stdout=out)
    assert "paper: would be created" in out.getvalue() and not Connector.objects.filter(key="paper").exists()
    call_command("connectors", "import", str(path), stdout=io.StringIO())
    assert Connector.objects.filter(key="paper").exists()
    path.write_text(path.read_text().replace("HUB_CONNECTOR_CRM_DSN", "DJANGO_SECRET_KEY"))
    with pytest.raises(CommandError, match="connector.invalid"):
        call_command("connectors", "import", str(path), stdout=io.StringIO())


# --- checks against a real second database ---------------------------------------------------
def _check_output(*keys: str) -> tuple[dict[str, list[str]], bool]:
    out = io.StringIO()
    failed = False
    try:
        call_command("connectors", "check", *keys, stdout=out)
    except CommandError as error:
        failed = error.returncode == 1
    lines = [line.split("\t") for line in out.getvalue().splitlines()]
    return {line[0]: line[1:] for line in lines}, failed


def test_check_plans_every_statement_against_a_real_database_and_reports_missing_privileges(monkeypatch):
    role, password = f"hub_crm_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin = server_conninfo("postgres")
    try:
        with fresh_database("hub_crm") as crm:
            with crm.connect(autocommit=True) as conn:
                conn.execute("CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL)")
                conn.execute("INSERT INTO customers (email) VALUES ('zoe@example.org')")
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password)
                )
                conn.execute(sql.SQL("GRANT SELECT ON customers TO {}").format(sql.Identifier(role)))
            conninfo = {**crm.conninfo, "user": role, "password": password}
            dsn = psycopg.conninfo.make_conninfo(**conninfo)
            monkeypatch.setenv("HUB_CONNECTOR_CRM_DSN", dsn)
            monkeypatch.delenv("HUB_CONNECTOR_UNSET_DSN", raising=False)
            for key, statements in [
                ("may-read", {"access": [SELECT]}),
                ("may-not-delete", {"access": [SELECT], "erasure": [DELETE]}),
                ("no-table", {"access": ["SELECT * FROM orders WHERE email = %(identity)s"]}),
            ]:
                Connector.objects.create(**connector_validate(_postgresql(key=key, statements=statements)))
            Connector.objects.create(
                **connector_validate(_postgresql(key="unset", dsn_env="HUB_CONNECTOR_UNSET_DSN"))
            )
            Connector.objects.create(**connector_validate(_manual()))

            results, failed = _check_output()

            assert failed
            assert results["may-read"][:2] == ["postgresql", "OK"]
            assert (
                results["may-not-delete"][1] == "FAILED"
                and "permission denied" in results["may-not-delete"][2]
            )
            assert "erasure" in results["may-not-delete"][2] and "access" not in results["may-not-delete"][2]
            assert results["no-table"][1] == "FAILED" and "orders" in results["no-table"][2]
            assert results["unset"][1] == "FAILED" and "HUB_CONNECTOR_UNSET_DSN" in results["unset"][2]
            assert results["paper"][:2] == ["manual", "OK"]
            assert password not in json.dumps(results)
            # nothing was deleted, and a check of only the good one exits 0
            with crm.connect() as conn:
                assert conn.execute("SELECT count(*) FROM customers").fetchone() == (1,)
            assert _check_output("may-read") == ({"may-read": results["may-read"]}, False)
            # a connection that fails names neither the password nor the DSN
            unreachable = psycopg.conninfo.make_conninfo(**{**conninfo, "dbname": "hub_no_such_db"})
            monkeypatch.setenv("HUB_CONNECTOR_CRM_DSN", unreachable)
            wrong = connector_check(Connector.objects.get(key="may-read"))
            assert not wrong.ok and "cannot connect" in wrong.detail, wrong.detail
            assert password not in wrong.detail and unreachable not in wrong.detail
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# --- checks against a real HTTP endpoint -------------------------------------------------------
def test_http_check_sends_a_signed_post_and_needs_a_2xx(receiver, monkeypatch):
    monkeypatch.setenv("HUB_CONNECTOR_BILLING_SECRET", "billing-secret")
    connector = Connector.objects.create(**connector_validate(_http(url=receiver.url)))
    result = connector_check(connector)
    assert result.ok, result.detail
    sent = receiver.requests[-1]
    headers, body = sent["headers"], sent["body"]
    assert json.loads(body) == {"type": "connector.check", "connector": "billing"}
    assert connector_signature_valid(secret="billing-secret", timestamp=headers["X-Hub-Timestamp"],
                                     body=body, signature=headers["X-Hub-Signature"])  # fmt: skip
    receiver.mode = "error"
    failed = connector_check(connector)
    assert not failed.ok and "500" in failed.detail
    results, exit_failed = _check_output("billing")
    assert exit_failed and results["billing"][:2] == ["http", "FAILED"]
    monkeypatch.delenv("HUB_CONNECTOR_BILLING_SECRET")
    missing = connector_check(connector)
    assert not missing.ok and "HUB_CONNECTOR_BILLING_SECRET" in missing.detail
    assert len(receiver.requests) == 3  # nothing was sent without a secret


# --- the admin ---------------------------------------------------------------------------------
ADD = "/admin/privacy_requests/connector/add/"


def _form(**changes: str) -> dict[str, Any]:
    return {"key": "crm", "name": "CRM", "kind": "postgresql", "active": "on", "identity_kind": "email",
            "identity_hash": "", "dsn_env": "HUB_CONNECTOR_CRM_DSN", "statements_access": SELECT + ";",
            "statements_erasure": f"{DELETE};\nDELETE FROM orders\n  WHERE email = %(identity)s;",
            "deadline_hours": "72", "max_attempts": "5", **changes}  # fmt: skip


@pytest.fixture
def declarer(roles) -> Client:
    user = officer(
        "declarer", role="officer",
        permissions=[f"privacy_requests.{verb}_connector" for verb in ("view", "add", "change")],
    )  # fmt: skip
    return officer_client(user)


def test_the_admin_form_shows_the_rule_a_declaration_breaks_next_to_its_field(declarer):
    page = declarer.get(ADD)
    assert page.status_code == 200 and "HUB_CONNECTOR_" in page.content.decode()
    refused = declarer.post(ADD, _form(dsn_env="DATABASE_URL"))
    assert refused.status_code == 200 and not Connector.objects.exists()
    assert "starting with HUB_CONNECTOR_" in str(refused.context["adminform"].form.errors["dsn_env"])
    refused = declarer.post(ADD, _form(statements_access=DELETE))
    assert "SELECT" in str(refused.context["adminform"].form.errors["statements_access"])
    assert not Connector.objects.exists()
    accepted = declarer.post(ADD, _form())
    assert accepted.status_code == 302, accepted.context["adminform"].form.errors
    connector = Connector.objects.get(key="crm")
    assert connector.statements == {
        "access": [SELECT],
        "erasure": [DELETE, "DELETE FROM orders\n  WHERE email = %(identity)s"],
    }
    change = declarer.get(f"/admin/privacy_requests/connector/{connector.pk}/change/").content.decode()
    assert "DELETE FROM orders" in change and "font-family: monospace" in change


def test_officers_check_now_and_viewers_download_the_declarations(declarer, roles, monkeypatch):
    Connector.objects.create(**connector_validate(_manual()))
    monkeypatch.delenv("HUB_CONNECTOR_CRM_DSN", raising=False)
    Connector.objects.create(**connector_validate(_postgresql()))
    response = declarer.post(
        "/admin/privacy_requests/connector/",
        {"action": "check_now", "_selected_action": [str(c.pk) for c in Connector.objects.all()]},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("paper: OK") for m in shown)
    assert any(m.startswith("crm: FAILED") and "HUB_CONNECTOR_CRM_DSN" in m for m in shown)
    viewer = officer_client(officer("viewer-user", role="viewer"))
    listing = viewer.get("/admin/privacy_requests/connector/").content.decode()
    assert "export.toml" in listing and "export.yaml" in listing
    download = viewer.get("/admin/privacy_requests/connector/export.toml")
    assert download.status_code == 200 and 'filename="connectors.toml"' in download["Content-Disposition"]
    assert download.content.decode() == connectors_export("toml")
    assert viewer.get("/admin/privacy_requests/connector/export.yaml").content.decode() == connectors_export(
        "yaml"
    )
    assert Client().get("/admin/privacy_requests/connector/export.toml").status_code == 302  # to the login


# --- the recipients registry's fields (issue 20) -----------------------------------------------
CLASSIFICATION_BAD = [
    ("an unknown role", _manual(recipient_role="vendor"), "recipient_role"),
    ("not a country", _manual(country="ZZ"), "country"),
    ("outside the EEA without a safeguard", _manual(country="US"), "transfer_safeguard"),
    ("a safeguard inside the EEA", _manual(country="DE", transfer_safeguard="sccs"), "transfer_safeguard"),
    ("a derogation without its ground", _manual(country="US", transfer_safeguard="derogation"),
     "transfer_safeguard_detail"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "fields", "field"), CLASSIFICATION_BAD, ids=[b[0] for b in CLASSIFICATION_BAD]
)
def test_a_declaration_with_a_transfer_but_no_safeguard_is_refused(case, fields, field):
    with pytest.raises(InvalidConnector) as raised:
        connector_validate(fields)
    assert raised.value.field == field, raised.value.message


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_the_classification_round_trips_and_an_unclassified_file_reads_the_same(declared, fmt):
    unclassified = connectors_export(fmt)
    assert "recipient_role" not in unclassified and "country" not in unclassified  # empty: left out
    Connector.objects.filter(key="crm").update(
        recipient_role="processor", country="us", transfer_safeguard="sccs",
        transfer_safeguard_detail="SCCs 2021/914, module 2",
    )  # fmt: skip
    # the file normalises the country as the rules do
    text = (
        connectors_export(fmt)
        .replace('country = "us"', 'country = "US"')
        .replace("country: us", "country: US")
    )
    assert "SCCs 2021/914, module 2" in text
    Connector.objects.all().delete()
    assert connectors_import(text, fmt, actor=None).created == ("billing", "crm", "paper")
    crm = Connector.objects.get(key="crm")
    assert (crm.recipient_role, crm.country, crm.transfer_safeguard, crm.outside_eea()) == (
        "processor",
        "US",
        "sccs",
        True,
    )
    assert connectors_export(fmt) == text  # byte-identical round trip


def test_the_admin_form_has_the_recipient_fieldset_and_refuses_a_transfer_without_safeguard(declarer):
    page = declarer.get(ADD).content.decode()
    assert (
        "Recipient and transfers (GDPR Art. 28/44–49, CCPA)" in page
        and "Standard contractual clauses" in page
    )
    refused = declarer.post(ADD, _form(recipient_role="processor", country="US"))
    assert "outside the EEA" in str(refused.context["adminform"].form.errors["transfer_safeguard"])
    assert not Connector.objects.exists()
    accepted = declarer.post(ADD, _form(recipient_role="processor", country="us", transfer_safeguard="adequacy",
                                        transfer_safeguard_detail="Adequacy decision for Japan"))  # fmt: skip
    assert accepted.status_code == 302, accepted.context["adminform"].form.errors
    assert Connector.objects.get(key="crm").country == "US"
