"""The breach register (GDPR Art. 33/34): incidents, and the roles' permissions on them."""

import audit.models
import django.contrib.postgres.fields
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

from hub.migration_support import permissions_granted


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_heartbeat_moved"),
        ("profiles", "0011_moved_out"),  # permissions_granted: the roles exist with their moved apps
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Incident",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("reference", models.CharField(editable=False, max_length=20, unique=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "draft (to be reviewed)"),
                            ("open", "open"),
                            ("notified", "authority notified"),
                            ("closed", "closed"),
                        ],
                        default="open",
                        help_text="draft → open → authority notified → closed. Closing needs every Art. 33(3) field.",
                        max_length=16,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("officer", "recorded by an officer"),
                            ("ledger_verification", "ledger verification failed"),
                            ("key_misuse", "data failed authentication under a live key"),
                        ],
                        default="officer",
                        editable=False,
                        max_length=24,
                    ),
                ),
                (
                    "fingerprint",
                    models.CharField(blank=True, editable=False, max_length=80, null=True, unique=True),
                ),
                (
                    "detected_at",
                    models.DateTimeField(help_text="When the breach happened or was first noticed (UTC)."),
                ),
                (
                    "aware_at",
                    models.DateTimeField(
                        help_text="When the controller became reasonably certain a breach occurred: the 72-hour clock of Art. 33(1) starts here."
                    ),
                ),
                (
                    "notify_by",
                    models.DateTimeField(editable=False, help_text="aware time + 72 hours (Art. 33(1))"),
                ),
                (
                    "nature",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(3)(a): what happened (confidentiality, integrity or availability), how it was found, which systems. No names or identifiers of people.",
                        verbose_name="nature of the breach",
                    ),
                ),
                (
                    "subject_categories",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(3)(a): e.g. customers, newsletter subscribers, children.",
                        verbose_name="categories of data subjects",
                    ),
                ),
                (
                    "subjects_approx",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Art. 33(3)(a). Suggested from the ledger: the subjects with events in the affected window.",
                        null=True,
                        verbose_name="approximate number of data subjects",
                    ),
                ),
                (
                    "record_categories",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(3)(a): e.g. contact details, consent records, browsing events.",
                        verbose_name="categories of personal data records",
                    ),
                ),
                (
                    "records_approx",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Art. 33(3)(a).",
                        null=True,
                        verbose_name="approximate number of records",
                    ),
                ),
                (
                    "dpo_contact",
                    models.TextField(
                        blank=True,
                        default=audit.models._dpo_contact_default,
                        help_text="Art. 33(3)(b): name and contact details of the data protection officer or other contact point where the authority can obtain more information.",
                        verbose_name="DPO or other contact point",
                    ),
                ),
                (
                    "consequences",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(3)(c): what could happen to the people affected (e.g. phishing, loss of control over their data, discrimination).",
                        verbose_name="likely consequences",
                    ),
                ),
                (
                    "measures",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(3)(d): what was done or is planned to address the breach and to mitigate its possible adverse effects.",
                        verbose_name="measures taken or proposed",
                    ),
                ),
                (
                    "authority_decision",
                    models.CharField(
                        choices=[
                            ("undecided", "not decided yet (the 72-hour clock runs)"),
                            ("required", "notification required"),
                            (
                                "not_required",
                                "not required: unlikely to result in a risk to people (Art. 33(1))",
                            ),
                        ],
                        default="undecided",
                        max_length=16,
                        verbose_name="notify the supervisory authority?",
                    ),
                ),
                (
                    "authority_decision_reasons",
                    models.TextField(
                        blank=True,
                        help_text="Required when notification is not required: why the breach is unlikely to result in a risk to people's rights and freedoms (Art. 33(5) documentation).",
                        verbose_name="reasons for the decision",
                    ),
                ),
                (
                    "authority_notified_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the notification was sent.",
                        null=True,
                        verbose_name="authority notified at",
                    ),
                ),
                (
                    "authority_reference",
                    models.CharField(
                        blank=True,
                        help_text="The authority's case number for the notification, if any.",
                        max_length=100,
                    ),
                ),
                (
                    "delay_reason",
                    models.TextField(
                        blank=True,
                        help_text="Art. 33(1): required when the authority is notified more than 72 hours after awareness.",
                        verbose_name="reasons for the delay",
                    ),
                ),
                (
                    "subjects_decision",
                    models.CharField(
                        choices=[
                            ("undecided", "not decided yet"),
                            ("required", "required: likely high risk to people (Art. 34(1))"),
                            (
                                "not_required_34_3_a",
                                "not required, Art. 34(3)(a): data unintelligible (e.g. encrypted)",
                            ),
                            (
                                "not_required_34_3_b",
                                "not required, Art. 34(3)(b): later measures remove the high risk",
                            ),
                            (
                                "not_required_34_3_c",
                                "not required, Art. 34(3)(c): disproportionate effort (public communication instead)",
                            ),
                        ],
                        default="undecided",
                        max_length=24,
                        verbose_name="inform the data subjects?",
                    ),
                ),
                (
                    "subjects_decision_reasons",
                    models.TextField(
                        blank=True,
                        help_text="Required when informing is not required: how the Art. 34(3) condition is met.",
                        verbose_name="reasons for the decision on informing subjects",
                    ),
                ),
                (
                    "subjects_informed_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the people affected were told (Art. 34(1): without undue delay).",
                        null=True,
                        verbose_name="subjects informed at",
                    ),
                ),
                (
                    "window_start",
                    models.DateTimeField(
                        blank=True,
                        help_text="Start of the time window whose data is affected (events recorded from then).",
                        null=True,
                        verbose_name="affected from",
                    ),
                ),
                (
                    "window_end",
                    models.DateTimeField(
                        blank=True,
                        help_text="End of the affected window (exclusive).",
                        null=True,
                        verbose_name="affected until",
                    ),
                ),
                (
                    "affected_purposes",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=64),
                        blank=True,
                        default=list,
                        help_text="Purpose keys whose data is affected, comma-separated; empty: every purpose.",
                        size=None,
                    ),
                ),
                (
                    "affected_event_types",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=80),
                        blank=True,
                        default=list,
                        help_text="Ledger event types affected, comma-separated; empty: every type.",
                        size=None,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("at_risk_alerted_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("overdue_alerted_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "recorded_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "audit_incident",
                "ordering": ("notify_by",),
                "default_permissions": ("add", "change", "view"),
                "indexes": [models.Index(fields=["status", "notify_by"], name="incident_clock_idx")],
            },
        ),
        permissions_granted(
            app_label="audit",
            grants={
                "view_incident": ("viewer", "officer", "admin"),
                "add_incident": ("officer", "admin"),
                "change_incident": ("officer", "admin"),
            },
        ),
    ]
