"""Connectors in the recipients registry: role, country and transfer safeguard."""

from django.db import migrations, models

import consent.models.recipients


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0006_legal_holds")]

    operations = [
        migrations.AddField(
            model_name="connector",
            name="country",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Where it processes the data: an ISO 3166-1 alpha-2 code (FR, DE, US…). Outside the EEA (EU, Iceland, Liechtenstein, Norway) this is a transfer and needs a safeguard (GDPR Art. 44).",
                max_length=2,
                validators=[consent.models.recipients.validate_country],
            ),
        ),
        migrations.AddField(
            model_name="connector",
            name="recipient_role",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not classified yet"),
                    ("processor", "Processor (GDPR Art. 28)"),
                    ("service_provider", "Service provider or contractor (CCPA)"),
                    ("third_party", "Third party"),
                    ("joint_controller", "Joint controller (GDPR Art. 26)"),
                ],
                default="",
                help_text="Who this recipient is for the data it receives: a processor acting on your instructions (GDPR Art. 28), a service provider or contractor (CCPA: disclosing to it is not a sale), a third party (CCPA: disclosing to it is a sale or sharing, so it gets nothing about people who opted out), or a joint controller (GDPR Art. 26). Not classified yet is shown as a gap in the record of processing activities.",
                max_length=24,
            ),
        ),
        migrations.AddField(
            model_name="connector",
            name="transfer_safeguard",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None needed (processed in the EEA)"),
                    ("adequacy", "Adequacy decision (GDPR Art. 45)"),
                    ("sccs", "Standard contractual clauses (GDPR Art. 46(2)(c))"),
                    ("bcrs", "Binding corporate rules (GDPR Art. 47)"),
                    ("derogation", "Derogation for a specific situation (GDPR Art. 49)"),
                ],
                default="",
                help_text="For a country outside the EEA: the legal ground of the transfer (GDPR Art. 45 adequacy, Art. 46(2)(c) standard contractual clauses, Art. 47 binding corporate rules, Art. 49 derogation). Leave empty for a country in the EEA.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="connector",
            name="transfer_safeguard_detail",
            field=models.CharField(
                blank=True,
                default="",
                help_text='Which adequacy decision, which SCC module, or the derogation\'s ground (required for a derogation), e.g. "EU-US Data Privacy Framework" or "SCCs 2021/914, module 2".',
                max_length=300,
            ),
        ),
    ]
