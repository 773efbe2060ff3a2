"""The words the portal uses for the hub's codes (statuses, sources, request types), translatable."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

STATUS_LABELS: dict[str | None, Promise] = {
    None: _("You have not decided yet"),
    "given": _("You gave consent"),
    "refused": _("You refused"),
    "withdrawn": _("You withdrew consent"),
    "expired": _("Your consent expired"),
    "invalidated": _("Your consent needs renewing: the notice changed"),
}
DECISION_STATUS_LABELS: dict[str, Promise] = {
    "given": _("Given"),
    "refused": _("Refused"),
    "withdrawn": _("Withdrawn"),
    "expired": _("Expired"),
    "invalidated": _("Invalidated (notice changed)"),
}
SOURCE_LABELS: dict[str, Promise] = {
    "portal": _("Privacy portal"),
    "banner": _("Consent banner"),
    "api": _("A service we work with"),
    "gpc": _("Your browser (Global Privacy Control)"),
    "tcf": _("TCF consent string"),
    "officer": _("Our privacy team"),
    "system": _("Automatic"),
}
METHOD_LABELS: dict[str, Promise] = {
    "click": _("Click"),
    "api": _("Recorded by a service"),
    "gpc": _("Browser signal"),
    "tcf": _("TCF string"),
    "automatic": _("Automatic"),
}
REQUEST_LABELS: dict[str, Promise] = {
    "access": _("Access to my data"),
    "portability": _("A portable copy of my data"),
    "erasure": _("Erasure of my data"),
    "rectification": _("Correction of my data"),
    "restriction": _("Restriction of processing"),
    "objection": _("Objection to processing"),
    "opt_out": _("Opt-out of sale and sharing"),
    "limit_sensitive": _("Limit the use of sensitive data"),
    "human_review": _("Human review of an automated decision"),
}
CASE_STATUS_LABELS: dict[str, Promise] = {
    "received": _("Received"),
    "identity_verified": _("Identity confirmed"),
    "acknowledged": _("Acknowledged"),
    "in_progress": _("In progress"),
    "extended": _("Extended"),
    "on_hold": _("On hold"),
    "fulfilled": _("Done"),
    "rejected": _("Rejected"),
    "failed": _("Delayed — our team is looking into it"),
}
TIMELINE_LABELS: dict[str, Promise] = {
    **CASE_STATUS_LABELS,
    "step_done": _("A step of the work was completed"),
    "subject_notified": _("We wrote to you"),
}
