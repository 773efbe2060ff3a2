"""Roles for the officers' admin as Django groups: viewer, officer, admin.

- viewer: every view_* permission of the hub's apps (and the audit log) — reads only.
- officer: a viewer who also decides privacy requests (approve/reject, extend/hold/retry, file),
  splits subject merges, edits consent configuration (purposes, notices, minimization
  policies, jurisdictions, TCF mapping, segments, tracking plan), registers services and
  revokes their keys, and queues ledger verification.
- admin: every permission of the hub's apps and of users and groups, except writing or deleting
  append-only rows (ledger events, Merkle tables, the audit log) and data keys (those change
  only through the services that shred them).

Permissions are created here first: on a fresh database they do not exist yet while migrations
run (Django creates them after `migrate`). Members also need staff status to enter the admin.
Permissions of models added by later migrations are not in these groups; grant them there.
"""

from django.db import migrations

APPS = ("audit", "consent", "profiles", "privacy_requests", "portal", "ratelimit", "auditlog", "activation")
# Apps split out of `profiles` later (their 0001 migrations move the models and relabel the content
# types in place). On a fresh database this migration still runs before the move, when their models
# are `profiles` models; `install` is also called by tests on the current apps. Both must work.
MOVED_FROM = {"privacy_requests": "profiles", "portal": "profiles", "ratelimit": "profiles"}
OFFICER_EXTRA = {
    "privacy_requests": [
        "approve_privacyrequest",
        "extend_privacyrequest",
        "add_privacyrequest",
        "change_verificationtier",  # granted on migrated databases by privacy_requests/0005
        "add_connector",  # granted on migrated databases by privacy_requests/0004
        "change_connector",
    ],
    "profiles": [
        "split_subjectmerge",
        "establish_jurisdiction",  # profiles/0009 grants it on databases migrated before it existed
        "add_segment",
        "change_segment",
        "delete_segment",
        "add_trackingplanevent",
        "change_trackingplanevent",
        "delete_trackingplanevent",
        "add_eventpurpose",  # granted on migrated databases by profiles/0012
        "change_eventpurpose",
        "delete_eventpurpose",
    ],
    "consent": [
        "add_purpose",
        "change_purpose",
        "add_notice",
        "change_notice",
        "add_minimizationpolicy",
        "change_minimizationpolicy",
        "delete_minimizationpolicy",
        "add_policyfield",
        "change_policyfield",
        "delete_policyfield",
        "add_jurisdiction",
        "change_jurisdiction",
        "add_tcfpurposemapping",
        "change_tcfpurposemapping",
        "add_consentcategory",  # granted on migrated databases by consent/0007
        "change_consentcategory",
        "delete_consentcategory",
        # registering a downstream service is deciding who receives data: an officer's call
        "add_service",
        "change_service",
        "change_servicekey",
        "add_assessment",  # DPIAs and LIAs; granted on migrated databases by consent/0013
        "change_assessment",
    ],
    "audit": [
        "add_verificationrun",
        "add_incident",  # the breach register; granted on migrated databases by audit/0008
        "change_incident",
    ],
}
# (app label, model): rows nobody changes through the admin
APPEND_ONLY = {
    ("audit", "ledgerevent"),
    ("audit", "checkpoint"),
    ("audit", "merkleleaf"),
    ("audit", "merklenode"),
    ("audit", "datakey"),
    ("audit", "stream"),
    ("auditlog", "logentry"),
}
ADMIN_APPS = (*APPS, "auth")
GROUPS = ("viewer", "officer", "admin")


def permissions_ensure(apps, using="default"):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        unset = getattr(app_config, "models_module", None) is None
        if unset:
            app_config.models_module = True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            if unset:
                app_config.models_module = None


def role_permissions(apps):
    """{group name: queryset of its permissions}."""
    from django.db.models import Q

    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=APPS)
    viewer = ours.filter(codename__startswith="view_")
    extra = Q(pk__in=[])
    for app_label, codenames in OFFICER_EXTRA.items():
        labels = {app_label, MOVED_FROM.get(app_label, app_label)}
        extra |= Q(content_type__app_label__in=labels, codename__in=codenames)
    officer = Permission.objects.filter(Q(pk__in=viewer.values("pk")) | extra)
    admin = Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
    for app_label, model in APPEND_ONLY:
        admin = admin.exclude(
            content_type__app_label=app_label,
            content_type__model=model,
            codename__regex=r"^(add|change|delete)_",
        )
    return {"viewer": viewer, "officer": officer, "admin": admin}


def install(apps, schema_editor):
    using = schema_editor.connection.alias if schema_editor is not None else "default"
    permissions_ensure(apps, using)
    Group = apps.get_model("auth", "Group")
    for name, permissions in role_permissions(apps).items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(list(permissions))


def uninstall(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_verification_run"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("consent", "0006_service_site_key"),
        ("profiles", "0007_portal"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
