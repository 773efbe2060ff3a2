"""Subjects and their identifiers.

A subject is a random UUID, never derived from personal data. Identifiers (user id,
anonymous id, email, phone) are stored only as keyed hashes (HMAC-SHA256 with a secret pepper)
for lookup; their values live in the ledger, encrypted under the subject's identity data key,
so erasure shreds them. A merge records that two subjects are one person.

These models belong to the `profiles` app (tables `profiles_subject`, `profiles_identifier`,
`profiles_subjectmerge`); `profiles/models.py` imports them so Django registers them there.
"""

from __future__ import annotations

import uuid

from django.db import models


class JurisdictionBasis(models.TextChoices):
    """What established a subject's jurisdiction (profiles/jurisdiction.py)."""

    NONE = "", "Nothing (the default rule applies)"
    CLAIM = "claim", "A client's claim (only ever stricter)"
    TRUSTED = "trusted", "The operator's trusted signal"
    OFFICER = "officer", "An officer"


class AgeBand(models.TextChoices):
    """What a subject stated of their age (consent.children); a statement only ever moves down."""

    UNKNOWN = "", "Unknown"
    ADULT = "adult", "An adult"
    TEEN = "teen", "A minor past the age of parental consent (opt-in for sale and sharing)"
    CHILD = "child", "A child below the age of digital consent (a parent must consent)"


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    jurisdiction = models.CharField(
        max_length=16,
        blank=True,
        help_text="the effective jurisdiction code: the most protective established (empty: default)",
    )
    jurisdiction_basis = models.CharField(
        max_length=8, blank=True, default="", db_default="", choices=JurisdictionBasis.choices,
        help_text="what established it",
    )  # fmt: skip
    known_minor = models.BooleanField(
        default=False, db_default=False,
        help_text="known to be under 16: opt-out regimes need opt-in (CCPA §1798.120(c))",
    )  # fmt: skip
    age_band = models.CharField(
        max_length=8, blank=True, default="", db_default="", choices=AgeBand.choices,
        help_text="what the person stated of their age, under their jurisdiction's thresholds (consent.children)",
    )  # fmt: skip
    parental_consent_at = models.DateTimeField(
        null=True, blank=True, help_text="when a holder of parental responsibility verified and consented"
    )
    restricted_since = models.DateTimeField(
        null=True, blank=True, help_text="processing restricted (GDPR Art. 18): data kept, not used"
    )
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="erased (GDPR Art. 17): keys shredded, identifiers and profile gone"
    )

    class Meta:
        permissions = [
            ("establish_jurisdiction", "Can establish a subject's jurisdiction and under-16 status"),
        ]

    def __str__(self) -> str:
        return f"subject {self.id}"


class IdentifierKind(models.TextChoices):
    USER_ID = "user_id", "User id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous (device) id"
    EMAIL = "email", "Email address"
    PHONE = "phone", "Phone number"


class Identifier(models.Model):
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the normalized value")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value_hash"], name="identifier_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_hash[:8]}… of {self.subject_id}"


class SubjectMerge(models.Model):
    """Two subjects found to be one person: the absorbed one's identifiers now belong to the survivor.

    The absorbed subject's row and ledger stream stay as they were. This row remembers which
    identifiers moved (their ids, never values) and each side's consent statuses at the
    merge (purpose → status), so a split undoes exactly the merge. A subject is absorbed by
    at most one merge that has not been split.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survivor = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="merges_as_survivor")
    absorbed = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="merges_as_absorbed")
    identifier_ids = models.JSONField(default=list, help_text="ids of the identifiers moved to the survivor")
    survivor_consents = models.JSONField(
        default=dict, help_text="purpose → consent status of the survivor before the merge"
    )
    absorbed_consents = models.JSONField(
        default=dict, help_text="purpose → consent status of the absorbed subject at the merge"
    )
    merged_at = models.DateTimeField(auto_now_add=True)
    merged_by = models.CharField(max_length=80, help_text="actor (kind:id)")
    split_at = models.DateTimeField(null=True, blank=True)
    split_by = models.CharField(max_length=80, blank=True, help_text="actor (kind:id)")

    class Meta:
        ordering = ("-merged_at",)
        permissions = [("split_subjectmerge", "Can split (undo) a subject merge")]
        constraints = [
            models.UniqueConstraint(
                fields=["absorbed"], condition=models.Q(split_at__isnull=True), name="subject_merge_one_live"
            ),
            models.CheckConstraint(
                condition=~models.Q(survivor=models.F("absorbed")), name="subject_merge_two_subjects"
            ),
        ]

    def __str__(self) -> str:
        state = "split" if self.split_at else "merged"
        return f"{self.absorbed_id} into {self.survivor_id} ({state})"


class ParentalConsentRequest(models.Model):
    """A request to a holder of parental responsibility to consent for a child (consent.children).

    The parent's address lives only in the ledger (the request's encrypted event); the emailed link
    carries a signed nonce of which only the hash is kept, so the link works once and a leaked table
    grants nothing.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_id = models.UUIDField(db_index=True)
    service_id = models.UUIDField(null=True, blank=True, help_text="the site or app that asked")
    nonce_hash = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, blank=True, default="")

    def __str__(self) -> str:
        return f"parental consent request {self.id}"


class SuppressedIdentifier(models.Model):
    """An erased person's identifier, as its keyed hash only: events that name it are refused at the
    door (reason `suppressed`) until the person comes back with a fresh, explicit consent
    (`profiles.identity.suppression`). Nothing here can be read back into the identifier."""

    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64)
    suppressed_at = models.DateTimeField()
    request_id = models.UUIDField(null=True, blank=True, help_text="the erasure that suppressed it")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value_hash"], name="suppressed_identifier_uniq")
        ]

    def __str__(self) -> str:
        return f"suppressed {self.kind}"
