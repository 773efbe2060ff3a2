"""Verification runs are append-only and data keys only move from live to shredded.

Like 0002, triggers that hold every role that keeps triggers on, owner included:

- `audit_verification_run`: no DELETE, no TRUNCATE. A queued or running run may be updated
  (the worker records its start and its result) but never re-identified; a finished run is
  final. The one change either allows is its requester becoming NULL: Django's SET_NULL when
  an officer's account is deleted.
- `audit_data_key`: no DELETE, no TRUNCATE, and a key's identity (key id, subject, purpose,
  epoch, creation time) never changes. A live key may be re-wrapped (KEK rotation: new bytes,
  new KEK id) or shredded (bytes gone, `shredded_at` set); a shredded key never changes again.
"""

from django.db import migrations

FUNCTIONS = """
CREATE FUNCTION hub_refuse_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hub: % on % is not allowed: its rows are never removed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION hub_verification_run_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.requested_by_id IS NOT NULL AND NEW.requested_by_id IS DISTINCT FROM OLD.requested_by_id THEN
        RAISE EXCEPTION 'hub: the requester of a verification run cannot be changed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.requested_at) IS DISTINCT FROM (OLD.id, OLD.requested_at) THEN
        RAISE EXCEPTION 'hub: a verification run cannot be re-identified'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.finished_at IS NOT NULL
       AND to_jsonb(NEW) - 'requested_by_id' IS DISTINCT FROM to_jsonb(OLD) - 'requested_by_id' THEN
        RAISE EXCEPTION 'hub: a finished verification run is final'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION hub_data_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.key_id, NEW.subject_id, NEW.purpose, NEW.epoch, NEW.created_at)
       IS DISTINCT FROM (OLD.key_id, OLD.subject_id, OLD.purpose, OLD.epoch, OLD.created_at) THEN
        RAISE EXCEPTION 'hub: a data key''s identity cannot be changed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.shredded_at IS NOT NULL THEN
        RAISE EXCEPTION 'hub: a shredded data key is never changed again'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.shredded_at IS NOT NULL AND NEW.wrapped_key IS NOT NULL THEN
        RAISE EXCEPTION 'hub: shredding a data key destroys its wrapped bytes'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.shredded_at IS NULL AND NEW.wrapped_key IS NULL THEN
        RAISE EXCEPTION 'hub: a live data key keeps its wrapped bytes (shredding sets shredded_at)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

FUNCTIONS_REVERSE = """
DROP FUNCTION hub_data_key_guard();
DROP FUNCTION hub_verification_run_guard();
DROP FUNCTION hub_refuse_removal();
"""


def _triggers(table: str, guard: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION hub_refuse_removal();\n"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION hub_refuse_removal();\n"
        f"CREATE TRIGGER {table}_guarded_update BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {guard}();\n"
    )


def _drop(table: str) -> str:
    return (
        f"DROP TRIGGER IF EXISTS {table}_no_delete ON {table};\n"
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n"
        f"DROP TRIGGER IF EXISTS {table}_guarded_update ON {table};\n"
    )


GUARDED = (
    ("audit_verification_run", "hub_verification_run_guard"),
    ("audit_data_key", "hub_data_key_guard"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_ledger_recorded_brin"),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTIONS + "".join(_triggers(table, guard) for table, guard in GUARDED),
            "".join(_drop(table) for table, _ in GUARDED) + FUNCTIONS_REVERSE,
        ),
    ]
