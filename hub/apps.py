"""The admin app with the hub's own admin site (`hub.admin_site.HubAdminSite`) as `admin.site`.

Every `@admin.register` in the apps keeps working: they register with the default site, which
is ours. Roles (auth groups and users) are audited like the other configuration models.
"""

from django.contrib.admin.apps import AdminConfig


class HubAdminConfig(AdminConfig):
    default_site = "hub.admin_site.HubAdminSite"

    def ready(self) -> None:
        super().ready()
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group, User

        # Who may do what is configuration too (A2: every admin change audited).
        auditlog.register(Group, m2m_fields={"permissions"})
        auditlog.register(
            User,
            m2m_fields={"groups", "user_permissions"},
            exclude_fields=["password", "last_login"],
        )
