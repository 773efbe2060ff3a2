"""How a recipient of personal data is classified: its role (GDPR Art. 26/28, CCPA) and where it
processes the data, with the safeguard of a transfer outside the EEA (GDPR Art. 44-49).

Shared by the registered services (`consent.Service`) and the systems privacy requests reach
(`privacy_requests.Connector`); the record of processing activities, the access export and the
CCPA sale/sharing gate read it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from consent.countries import country_normalized, is_country
from consent.countries import outside_eea as country_outside_eea


class RecipientRole(models.TextChoices):
    NOT_CLASSIFIED = "", "Not classified yet"
    PROCESSOR = "processor", "Processor (GDPR Art. 28)"
    SERVICE_PROVIDER = "service_provider", "Service provider or contractor (CCPA)"
    THIRD_PARTY = "third_party", "Third party"
    JOINT_CONTROLLER = "joint_controller", "Joint controller (GDPR Art. 26)"


class TransferSafeguard(models.TextChoices):
    NONE = "", "None needed (processed in the EEA)"
    ADEQUACY = "adequacy", "Adequacy decision (GDPR Art. 45)"
    SCCS = "sccs", "Standard contractual clauses (GDPR Art. 46(2)(c))"
    BCRS = "bcrs", "Binding corporate rules (GDPR Art. 47)"
    DEROGATION = "derogation", "Derogation for a specific situation (GDPR Art. 49)"


# the classification's fields, in the order forms and declaration files show them
RECIPIENT_FIELDS = ("recipient_role", "country", "transfer_safeguard", "transfer_safeguard_detail")


def validate_country(value: str) -> None:
    if value and not is_country(value):
        raise ValidationError(
            "Enter an ISO 3166-1 alpha-2 country code, e.g. FR, DE or US.", code="invalid_country"
        )


class RecipientClassification(models.Model):
    """A recipient's role and the country it processes the data in, with its transfer safeguard."""

    recipient_role = models.CharField(
        max_length=24,
        blank=True,
        default="",
        choices=RecipientRole.choices,
        help_text=(
            "Who this recipient is for the data it receives: a processor acting on your instructions "
            "(GDPR Art. 28), a service provider or contractor (CCPA: disclosing to it is not a sale), a "
            "third party (CCPA: disclosing to it is a sale or sharing, so it gets nothing about people "
            "who opted out), or a joint controller (GDPR Art. 26). Not classified yet is shown as a gap "
            "in the record of processing activities."
        ),
    )
    country = models.CharField(
        max_length=2,
        blank=True,
        default="",
        validators=[validate_country],
        help_text=(
            "Where it processes the data: an ISO 3166-1 alpha-2 code (FR, DE, US…). Outside the EEA "
            "(EU, Iceland, Liechtenstein, Norway) this is a transfer and needs a safeguard (GDPR Art. 44)."
        ),
    )
    transfer_safeguard = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=TransferSafeguard.choices,
        help_text=(
            "For a country outside the EEA: the legal ground of the transfer (GDPR Art. 45 adequacy, "
            "Art. 46(2)(c) standard contractual clauses, Art. 47 binding corporate rules, Art. 49 "
            "derogation). Leave empty for a country in the EEA."
        ),
    )
    transfer_safeguard_detail = models.CharField(
        max_length=300,
        blank=True,
        default="",
        help_text=(
            "Which adequacy decision, which SCC module, or the derogation's ground (required for a "
            'derogation), e.g. "EU-US Data Privacy Framework" or "SCCs 2021/914, module 2".'
        ),
    )

    class Meta:
        abstract = True

    def outside_eea(self) -> bool | None:
        """Whether the recipient processes the data outside the EEA; None when no country is set."""
        return country_outside_eea(self.country)

    def clean(self) -> None:
        super().clean()
        self.country = country_normalized(self.country)
        self.transfer_safeguard_detail = (self.transfer_safeguard_detail or "").strip()
        errors: dict[str, str] = {}
        outside = self.outside_eea()
        if outside and not self.transfer_safeguard:
            errors["transfer_safeguard"] = (
                "This country is outside the EEA: name the safeguard of the transfer (GDPR Art. 44-49)."
            )
        elif outside is False and self.transfer_safeguard:
            errors["transfer_safeguard"] = (
                "This country is in the EEA: no transfer safeguard applies; leave it empty."
            )
        elif outside is None and self.transfer_safeguard:
            errors["country"] = "Name the country the safeguard covers a transfer to."
        if self.transfer_safeguard == TransferSafeguard.DEROGATION and not self.transfer_safeguard_detail:
            errors["transfer_safeguard_detail"] = (
                "A derogation needs its ground (GDPR Art. 49(1)), e.g. explicit consent or a contract."
            )
        if errors:
            raise ValidationError(errors)
