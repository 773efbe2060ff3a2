"""Make the ledger append-only in the database itself, and give it its write-time order.

Triggers refuse UPDATE and DELETE on every row and TRUNCATE on the table, for every role
including the owner (only a superuser that disables triggers gets past them, and
`manage.py ledger verify` then finds the change). The same protection covers the Merkle
tables, the signed checkpoints and django-auditlog's log, so `auditlogflush` cannot empty it.
"""

from django.db import migrations

PROTECTED = (
    "audit_ledger_event",
    "audit_checkpoint",
    "audit_merkle_leaf",
    "audit_merkle_node",
    "auditlog_logentry",
)

FUNCTION = """
CREATE FUNCTION hub_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hub: % on % is not allowed: this table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _triggers(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION hub_refuse_change();\n"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_change();\n"
    )


def _drop(table: str) -> str:
    return (
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table};\n"
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n"
    )


ORDER = """
CREATE SEQUENCE audit_ledger_event_seq AS bigint;
ALTER TABLE audit_ledger_event ALTER COLUMN seq SET DEFAULT nextval('audit_ledger_event_seq');
ALTER SEQUENCE audit_ledger_event_seq OWNED BY audit_ledger_event.seq;
ALTER TABLE audit_ledger_event ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
"""

ORDER_REVERSE = """
ALTER TABLE audit_ledger_event ALTER COLUMN xid DROP DEFAULT;
ALTER TABLE audit_ledger_event ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE audit_ledger_event_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunSQL(ORDER, ORDER_REVERSE),
        migrations.RunSQL(
            FUNCTION + "".join(_triggers(t) for t in PROTECTED),
            "".join(_drop(t) for t in PROTECTED) + "DROP FUNCTION hub_refuse_change();",
        ),
    ]
