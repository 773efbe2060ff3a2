"""Consent's models, one module per concern."""

from consent.models.assessments import Assessment, AssessmentKind, AssessmentOutcome, AssessmentStatus
from consent.models.categories import ConsentCategory
from consent.models.decisions import (
    ConsentState,
    ConsentStatus,
    DecisionMethod,
    DecisionSource,
    Jurisdiction,
    Regime,
)
from consent.models.policies import MinimizationPolicy, PolicyField, TcfPurposeMapping, Transformation
from consent.models.purposes import ConsentMechanism, LawfulBasis, Notice, Purpose, PurposeTranslation
from consent.models.recipients import RecipientClassification, RecipientRole, TransferSafeguard
from consent.models.services import Scope, Service, ServiceKey
from consent.models.webhooks import DeliveryStatus, WebhookDelivery

__all__ = [
    "Assessment",
    "AssessmentKind",
    "AssessmentOutcome",
    "AssessmentStatus",
    "ConsentCategory",
    "ConsentMechanism",
    "ConsentState",
    "ConsentStatus",
    "DecisionMethod",
    "DecisionSource",
    "DeliveryStatus",
    "Jurisdiction",
    "LawfulBasis",
    "MinimizationPolicy",
    "Notice",
    "PolicyField",
    "Purpose",
    "PurposeTranslation",
    "RecipientClassification",
    "RecipientRole",
    "Regime",
    "Scope",
    "Service",
    "ServiceKey",
    "TcfPurposeMapping",
    "TransferSafeguard",
    "Transformation",
    "WebhookDelivery",
]
