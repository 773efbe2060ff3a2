from django.apps import AppConfig


class PrivacyRequestsConfig(AppConfig):
    """Privacy requests (GDPR Art. 12-22, CCPA): cases against legal deadlines, and their execution.

    Its own app (label `privacy_requests`) since the tables moved out of `profiles` with state-only
    migrations: the tables keep their `profiles_*` names and their rows (migrations/0001_initial).
    """

    name = "profiles.requests"
    label = "privacy_requests"
    verbose_name = "Privacy requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from consent.own_records import own_record_rule_register
        from consent.recipients import recipient_source_register
        from consent.retention import retention_keeper_register
        from hub.metrics import scrape_collector_register
        from profiles.requests import event_types  # noqa: F401  (registers the cases' ledger event types)
        from profiles.requests.connectors.registry import connector_recipients
        from profiles.requests.event_types import REQUESTS_PURPOSE
        from profiles.requests.holds import hold_keeps
        from profiles.requests.metrics import request_gauges
        from profiles.requests.models import Connector, VerificationTier
        from profiles.requests.records import request_details_epochs_due

        auditlog.register(Connector)  # officers' declarations: every change in the audit log
        auditlog.register(VerificationTier)
        retention_keeper_register(hold_keeps)  # a legal hold keeps its purposes past their retention
        recipient_source_register(connector_recipients)  # connectors are recipients (Art. 30(1)(d))
        # what a person wrote in a request goes once its cases are closed long enough
        own_record_rule_register(REQUESTS_PURPOSE, request_details_epochs_due)
        scrape_collector_register("privacy_requests", request_gauges)  # /metrics: cases by state and deadline
