"""Helpers for migrations: moving models between apps without touching their tables, and granting
the officers' roles the permissions of models added after the roles migration.

A model moved from one app to another keeps its table (a pinned `db_table`) and its rows; only
Django's state changes (`SeparateDatabaseAndState`). What must follow it in the database is its
content type: permissions hang on it (and the officers' roles hold those permissions), and so do
django-auditlog's entries. `content_types_move` relabels the content type in place, so every
permission, role grant and audit-log entry keeps pointing at the same row.

Migrations import this module by name; keep what it does stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

from django.db import migrations


def content_types_moved(*, old_label: str, new_label: str, models: Mapping[str, str]) -> migrations.RunPython:
    """The migration operation that relabels the content types of `models` ({old model name: new
    model name}) from `old_label` to `new_label`, and back when the migration is reversed."""
    back = {new: old for old, new in models.items()}

    def forward(apps: Any, schema_editor: Any) -> None:
        content_types_move(
            apps, schema_editor.connection.alias, old_label=old_label, new_label=new_label, models=models
        )

    def backward(apps: Any, schema_editor: Any) -> None:
        content_types_move(
            apps, schema_editor.connection.alias, old_label=new_label, new_label=old_label, models=back
        )

    return migrations.RunPython(forward, backward)


def content_types_move(
    apps: Any, using: str, *, old_label: str, new_label: str, models: Mapping[str, str]
) -> None:
    """Relabel the content types of `models` ({old model name: new model name}) from `old_label` to
    `new_label`, renaming the permissions' codenames when the model name changes.

    A model whose content type does not exist yet (a fresh database creates it after `migrate`,
    under the new label) is skipped. A content type that already exists under the new label is an
    empty duplicate left by a partial migration and is deleted, or, if anything refers to it,
    refused: rows are never merged silently.
    """
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    for old_model, new_model in models.items():
        old = content_type.objects.using(using).filter(app_label=old_label, model=old_model).first()
        if old is None:
            continue
        duplicate = content_type.objects.using(using).filter(app_label=new_label, model=new_model).first()
        if duplicate is not None:
            _unused_duplicate_delete(apps, using, duplicate, name=f"{new_label}.{new_model}")
        if old_model != new_model:
            for row in permission.objects.using(using).filter(
                content_type=old, codename__endswith=f"_{old_model}"
            ):
                row.codename = row.codename[: -len(old_model)] + new_model
                row.save(update_fields=["codename"])
        old.app_label, old.model = new_label, new_model
        old.save(update_fields=["app_label", "model"])
    content_type.objects.clear_cache()


def _unused_duplicate_delete(apps: Any, using: str, duplicate: Any, *, name: str) -> None:
    """Django's post_migrate creates a content type (and its default permissions) for every model of
    the migration state it ends on; after a partial migration that state can hold a moved model under
    both labels. Such a duplicate is deleted when nothing refers to it: no role or user holds its
    permissions and no audit-log or admin-log entry names it. Anything else is refused, never merged."""
    permission = apps.get_model("auth", "Permission")
    own = permission.objects.using(using).filter(content_type=duplicate)
    used = own.filter(group__isnull=False).exists() or own.filter(user__isnull=False).exists()
    for app_label, model in (("auditlog", "LogEntry"), ("admin", "LogEntry")):
        try:
            entries = apps.get_model(app_label, model)
        except LookupError:  # not in this migration's state: it cannot refer to anything yet
            continue
        used = used or entries.objects.using(using).filter(content_type=duplicate).exists()
    if used:
        raise RuntimeError(
            f"content type {name} already exists and is in use beside the one being moved: move its "
            "permissions, grants and log entries by hand, delete it, and migrate again"
        )
    own.delete()
    duplicate.delete()


def permissions_granted(*, app_label: str, grants: Mapping[str, tuple[str, ...]]) -> migrations.RunPython:
    """The migration operation that grants the officers' roles permissions of models added after
    the roles migration (audit/0004_roles, which only covers permissions that existed when it ran):
    `grants` is {permission codename: role names}. Reversed, it takes them back."""

    def permissions(apps: Any, using: str) -> dict[str, Any]:
        found = apps.get_model("auth", "Permission").objects.using(using)
        return {
            p.codename: p for p in found.filter(content_type__app_label=app_label, codename__in=list(grants))
        }

    def forward(apps: Any, schema_editor: Any) -> None:
        using = schema_editor.connection.alias
        import_module("audit.migrations.0004_roles").permissions_ensure(apps, using)
        _grants_apply(apps, using, permissions(apps, using), grants, add=True)

    def backward(apps: Any, schema_editor: Any) -> None:
        using = schema_editor.connection.alias
        _grants_apply(apps, using, permissions(apps, using), grants, add=False)

    return migrations.RunPython(forward, backward)


def _grants_apply(
    apps: Any, using: str, permissions: Mapping[str, Any], grants: Mapping[str, tuple[str, ...]], *, add: bool
) -> None:
    groups = apps.get_model("auth", "Group").objects.using(using)
    for codename, roles in grants.items():
        permission = permissions.get(codename)
        if permission is None:  # not created yet (a fresh database creates it after migrate)
            continue
        for group in groups.filter(name__in=roles):
            (group.permissions.add if add else group.permissions.remove)(permission)


def config_tracked(*tables: str, update_of: Sequence[str] = ()) -> migrations.RunSQL:
    """The migration operation that makes every change to `tables` replace the configuration's version
    token (`hub.config`): a statement-level trigger per table, so a bulk change costs one write.

    `update_of`: an UPDATE changes the configuration only when it sets one of these columns (a table
    that also holds bookkeeping, such as a key's last use, which must not empty every process's cache).
    """
    forward, backward = [], []
    update = f"UPDATE OF {', '.join(update_of)}" if update_of else "UPDATE"
    for table in tables:
        trigger = f"{table}_config_changed"
        forward.append(
            f"CREATE TRIGGER {trigger} AFTER INSERT OR {update} OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_config_changed();"
        )
        backward.append(f"DROP TRIGGER IF EXISTS {trigger} ON {table};")
    return migrations.RunSQL("\n".join(forward), "\n".join(backward))
