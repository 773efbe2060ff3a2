"""The admin app with the hub's own admin site (`hub.admin_site.HubAdminSite`) as `admin.site`.

Every `@admin.register` in the apps keeps working: they register with the default site, which
is ours. Roles (auth groups and users) are audited like the other configuration models.
"""

from django.contrib.admin.apps import AdminConfig


class HubAdminConfig(AdminConfig):
    default_site = "hub.admin_site.HubAdminSite"

    def ready(self) -> None:
        # imported here, not at the top: an AppConfig module loads before the models are ready
        super().ready()
        from auditlog.registry import auditlog
        from celery import signals
        from django.conf import settings
        from django.contrib.auth.models import Group, User

        from hub import checks  # noqa: F401  # registers the deployment checks
        from hub.dbrole import refuse_celery_start

        # The hub has no app of its own: its admin config is the project's start-up hook.
        # Workers and beat refuse a database role that could rewrite the ledger (hub/dbrole.py).
        for signal in (signals.worker_init, signals.beat_init):
            signal.connect(refuse_celery_start, dispatch_uid="hub.dbrole.refuse_celery_start", weak=False)
        # A worker that has just connected counts for /healthz at once (not at beat's next heartbeat).
        signals.worker_ready.connect(_heartbeat_on_ready, dispatch_uid="hub.health.worker_ready", weak=False)

        if not settings.HUB_LOG_ROUTINE:
            from hub.log_filters import demote_routine_lines

            demote_routine_lines()  # a task's success and beat's ticks below INFO (hub/log_filters.py)
        # Request and task ids on log lines; under the JSON format Celery keeps Django's LOGGING.
        # Here: Django is set up before a worker or beat sets up its logging (hub/logging_context.py).
        from django.core.signals import request_finished, request_started

        from hub.logging_context import log_context_install, request_context_clear

        log_context_install(settings.HUB_LOG_FORMAT)
        for signal in (request_started, request_finished):
            signal.connect(request_context_clear, dispatch_uid="hub.logging_context.clear", weak=False)

        # Who may do what is configuration too (A2: every admin change audited).
        auditlog.register(Group, m2m_fields={"permissions"})
        auditlog.register(
            User,
            m2m_fields={"groups", "user_permissions"},
            exclude_fields=["password", "last_login"],
        )
        # an officer's second factor: who enrolled or removed one (never its secret or counters)
        from django_otp.plugins.otp_totp.models import TOTPDevice

        auditlog.register(
            TOTPDevice, include_fields=["user", "name", "confirmed", "step", "digits", "tolerance"]
        )


def _heartbeat_on_ready(**kwargs: object) -> None:
    from hub.health.probes import record_heartbeat  # uses a model: not importable with this module

    record_heartbeat()
