"""What the hub tells people about their requests, and the deadline alerts it sends officers.

A notice to a subject goes by email when an address is known (the one given with the request,
else a linked email identifier, decrypted only to send) and is always recorded on the case's
timeline as a `privacy_request.subject_notified` event, once: a notice already recorded is not
sent again. Neither the address nor the text reaches a log. An export's download link is put
in the email only when the address is confirmed as the person's (`contact_confirmed`); any
other address is pointed to the portal, where the person signs in to download. A person's email
is written in the language of the request that filed the case (`PrivacyRequest.language`), not
the worker's; officers' alerts are in LANGUAGE_CODE.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.selectors import ledger_events_tagged
from audit.services import Actor
from consent.translations import language_supported
from hub.errors import DomainError
from hub.officers import emails_with_permission
from profiles.identity.models import Identifier, IdentifierKind
from profiles.identity.subjects import identifier_hash
from profiles.requests import deadlines
from profiles.requests.case import case_event_append
from profiles.requests.domain import CLOSED
from profiles.requests.event_types import SUBJECT_NOTIFIED
from profiles.requests.holds import GROUND_WORDS, holds_kept, purpose_names
from profiles.requests.human_review import review_decided
from profiles.requests.models import PrivacyRequest, TaskStatus
from profiles.requests.selectors import contact_email, request_received, request_subjects

logger = logging.getLogger(__name__)

NOTICES = ("acknowledged", "extended", "rejected", "erasing", "fulfilled", "restriction_lifting")
# the request types as the emails name them ("your access request", "Ihre Anfrage (Auskunft)")
KINDS: dict[str, Promise] = {
    "access": gettext_lazy("access"),
    "portability": gettext_lazy("portability"),
    "erasure": gettext_lazy("erasure"),
    "rectification": gettext_lazy("rectification"),
    "restriction": gettext_lazy("restriction"),
    "objection": gettext_lazy("objection"),
    "opt_out": gettext_lazy("opt out"),
    "limit_sensitive": gettext_lazy("limit sensitive"),
    "human_review": gettext_lazy("human review"),
}
# what an officer's human review decided (Art. 22(3)), as the person reads it
REVIEW_OUTCOMES: dict[str, Promise] = {
    "upheld": gettext_lazy("A person reviewed the automated decision and it stands."),
    "changed": gettext_lazy("A person reviewed the automated decision and changed it."),
    "membership_removed": gettext_lazy(
        "A person reviewed the automated decision: you are no longer in that segment and will not be put in it again."
    ),
}


def _when(moment: datetime | None) -> str:
    """A day in the active language's words ("5 March 2027", "5. März 2027"), in UTC."""
    return date_format(moment.astimezone(UTC), "j F Y") if moment else "—"


def _kind(case: PrivacyRequest) -> str:
    return str(KINDS.get(case.type, case.type.replace("_", " ")))


def _language(case: PrivacyRequest) -> str:
    return language_supported(case.language)


def _complaint() -> str:
    return _(
        "If you disagree, you can lodge a complaint with a supervisory authority: %(authority)s, "
        "or seek a judicial remedy."
    ) % {"authority": settings.HUB_SUPERVISORY_AUTHORITY}


def _text(case: PrivacyRequest, notice: str, link: str | None, *, in_portal: bool = False) -> tuple[str, str]:
    kind = _kind(case)
    reference = _("Reference: %(id)s") % {"id": case.id}
    if notice == "acknowledged":
        body = _("We received your %(kind)s request. We will answer by %(due)s.") % {
            "kind": kind,
            "due": _when(case.due_at),
        }
        return _("We received your privacy request"), f"{body}\n\n{reference}"
    if notice == "extended":
        body = _(
            "We need more time for your %(kind)s request and will answer by %(due)s. Why: %(reason)s"
        ) % {"kind": kind, "due": _when(case.due_at), "reason": case.extension_reason}
        return _("Your privacy request needs more time"), f"{body}\n\n{reference}"
    if notice == "rejected":
        body = _("We cannot act on your %(kind)s request. Why: %(reason)s") % {
            "kind": kind,
            "reason": case.reason,
        }
        return _("About your privacy request"), f"{body}\n\n{_complaint()}\n\n{reference}"
    if notice == "erasing":
        body = _(
            "Your data is being erased now. An erasure certificate will be kept with this reference; "
            "after erasure we can no longer write to you at this address."
        )
        return _(
            "Your data is being erased"
        ), f"{body}{_kept(case)}{_systems(case, outcomes=False)}\n\n{reference}"
    if notice == "restriction_lifting":
        body = _("The restriction of processing you asked for will be lifted. Your data will be used again.")
        return _("Restriction of processing will be lifted"), f"{body}\n\n{_complaint()}\n\n{reference}"
    body = _("Your %(kind)s request is done.") % {"kind": kind}
    if link:
        body += " " + _("Download your data here (the link expires on %(expiry)s): %(link)s") % {
            "expiry": _when(case.export.expires_at),
            "link": link,
        }
    elif in_portal:
        body += " " + _(
            "Sign in to your privacy portal to download your data (until %(expiry)s): %(portal)s"
        ) % {
            "expiry": _when(case.export.expires_at),
            "portal": f"{settings.HUB_PUBLIC_URL.rstrip('/')}/portal/requests",
        }
    kept = _kept(case) if case.type == "erasure" else ""
    if case.type == "human_review":
        kept = _reviewed(case)
    return _("Your privacy request is done"), f"{body}{kept}{_systems(case, outcomes=True)}\n\n{reference}"


def _reviewed(case: PrivacyRequest) -> str:
    decided = review_decided(case)
    outcome = REVIEW_OUTCOMES.get(str(decided.get("outcome", "")))
    if outcome is None:
        return ""
    note = _("Why: %(note)s") % {"note": decided.get("note", "")}
    return f"\n\n{outcome} {note}\n\n{_complaint()}"


def _systems(case: PrivacyRequest, *, outcomes: bool) -> str:
    """Art. 12(1), 19: which of our other systems the request reached (and, once done, how each went)."""
    tasks = list(case.connector_tasks.select_related("connector").order_by("connector__name"))
    if not tasks:
        return ""
    if not outcomes:
        names = ", ".join(task.connector.name for task in tasks)
        return "\n\n" + _("Your request also covers these other systems of ours: %(systems)s.") % {
            "systems": names
        }
    words = {
        TaskStatus.DONE: _("done"),
        TaskStatus.NOT_HELD: _("it held no data about you"),
        TaskStatus.FAILED: _("it could not be done; we will contact you"),
    }
    pending = _("still in progress; we will tell you when it is done")
    lines = [_("Our other systems:")]
    lines += [f"- {task.connector.name}: {words.get(TaskStatus(task.status), pending)}" for task in tasks]
    return "\n\n" + "\n".join(lines)


def _kept(case: PrivacyRequest) -> str:
    """Art. 17(3) and 12(4): what a legal hold keeps from the erasure, why, and until when ("" if nothing)."""
    kept = holds_kept(case=case)
    if not kept:
        return ""
    lines = [_("We must keep some of your data for now; everything else is erased.")]
    for hold in kept:
        letter, ground = GROUND_WORDS[hold["ground"]]
        lines.append(
            "- "
            + _(
                "Kept: %(what)s. Why: %(ground)s (GDPR Art. 17(3)(%(letter)s)): %(reason)s. "
                "Until: %(until)s at the latest; then it is erased."
            )
            % {
                "what": ", ".join(purpose_names(hold["purposes"], _language(case))),
                "ground": ground,
                "letter": letter,
                "reason": hold["reason"].rstrip("."),
                "until": date_format(date.fromisoformat(hold["until"]), "j F Y"),
            }
        )
    return "\n\n" + "\n".join(lines)


def _already(case: PrivacyRequest, notice: str) -> bool:
    return bool(
        ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:notice:{notice}")
    )


def subject_notify(*, case: PrivacyRequest, notice: str, link: str | None = None) -> bool:
    """Tell the subject; True if an email was sent now (False: recorded earlier, or no address)."""
    if notice not in NOTICES:
        raise ValueError(f"unknown notice {notice!r}")
    if _already(case, notice):
        return False
    address = contact_email(case)
    if address:
        # the export's link only to an address the person is known to control; any other
        # address learns where to sign in, where the person proves who they are
        confirmed = link is not None and contact_confirmed(case=case, address=address)
        with translation.override(_language(case)):
            subject, body = _text(case, notice, link if confirmed else None, in_portal=link is not None)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    case_event_append(
        case,
        SUBJECT_NOTIFIED.name,
        payload={"request_id": str(case.id), "notice": notice, "by": "email" if address else "timeline"},
        message_id=f"request:{case.id}:notice:{notice}",
        actor=Actor.system(),
    )
    logger.info("privacy request notice request=%s notice=%s emailed=%s", case.id, notice, bool(address))
    return bool(address)


def contact_confirmed(*, case: PrivacyRequest, address: str) -> bool:
    """Is `address` the person's own? Yes if they followed this case's one-time link sent to it,
    or it is an email identifier of the person (the address the portal's sign-in links go to)."""
    if case.verification == "email_link":
        return True
    try:
        value_hash = identifier_hash(IdentifierKind.EMAIL, address)
    except DomainError:
        return False
    return Identifier.objects.filter(
        kind=IdentifierKind.EMAIL, value_hash=value_hash, subject_id__in=request_subjects(case)
    ).exists()


def verification_link_send(*, case: PrivacyRequest, token: str) -> bool:
    address = contact_email(case)
    if not address:
        return False
    link = f"{settings.HUB_PUBLIC_URL.rstrip('/')}/privacy-requests/verify/{token}"
    with translation.override(_language(case)):
        if case.filed_by_agent:
            subject, body = _agent_confirmation_text(case, link)
        else:
            body = _(
                "Someone asked us to act on a %(kind)s request for this address. If it was you, confirm it "
                "within %(hours)s hours: %(link)s\n\nIf it was not you, ignore this email; nothing will happen."
            ) % {"kind": _kind(case), "hours": settings.HUB_VERIFICATION_LINK_HOURS, "link": link}
            subject = _("Confirm your privacy request")
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return True


def _agent_confirmation_text(case: PrivacyRequest, link: str) -> tuple[str, str]:
    """The person, not the agent, decides (CCPA §7063): written to the address the hub holds for
    them, naming the agent as the agent named themselves."""
    agent = (request_received(case) or {}).get("agent")
    name = str(agent.get("name", "")) if isinstance(agent, dict) else ""
    body = _(
        "%(agent)s told us they are your authorised agent and asked us to act on a %(kind)s request "
        "for you. We will act on it only if you confirm that you gave them permission, within "
        "%(hours)s hours: %(link)s\n\nIf you did not, ignore this email; nothing will happen."
    ) % {
        "agent": name or _("Someone"),
        "kind": _kind(case),
        "hours": settings.HUB_VERIFICATION_LINK_HOURS,
        "link": link,
    }
    return _("Confirm a request an agent made for you"), body


def officers_emails() -> list[str]:
    """Active staff who may decide on requests, and superusers, with an email address."""
    return emails_with_permission("privacy_requests.approve_privacyrequest")


def deadline_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Flag open cases newly at risk (7 days left) or overdue, and email officers once for each."""
    now = now or timezone.now()
    open_cases = PrivacyRequest.objects.exclude(status__in=[s.value for s in CLOSED])
    overdue = list(open_cases.filter(due_at__lt=now, overdue_alerted_at__isnull=True).order_by("due_at"))
    at_risk = list(
        open_cases.filter(
            due_at__gte=now, due_at__lte=now + deadlines.AT_RISK_WINDOW, at_risk_alerted_at__isnull=True
        ).order_by("due_at")
    )
    # CCPA: a case not acknowledged within 10 business days is overdue for its acknowledgement
    unacknowledged = list(
        open_cases.filter(
            acknowledged_at__isnull=True, acknowledge_by__lt=now, overdue_alerted_at__isnull=True
        )
        .exclude(pk__in=[c.pk for c in overdue])
        .order_by("acknowledge_by")
    )
    overdue += unacknowledged
    if overdue or at_risk:
        lines = [
            f"OVERDUE  {c.type:<16} due {c.due_at:%Y-%m-%d %H:%M} UTC  {c.id}"
            if c not in unacknowledged
            else f"NOT ACKNOWLEDGED  {c.type:<16} acknowledge by {c.acknowledge_by:%Y-%m-%d} UTC  {c.id}"
            for c in overdue
        ]
        lines += [f"AT RISK  {c.type:<16} due {c.due_at:%Y-%m-%d %H:%M} UTC  {c.id}" for c in at_risk]
        recipients = officers_emails()
        if recipients:
            send_mail(
                _("Privacy requests: %(overdue)s overdue, %(at_risk)s at risk")
                % {"overdue": len(overdue), "at_risk": len(at_risk)},
                "\n".join(lines)
                + f"\n\n{settings.HUB_PUBLIC_URL.rstrip('/')}{reverse('admin:privacy_requests_privacyrequest_changelist')}",
                settings.DEFAULT_FROM_EMAIL,
                recipients,
            )
        PrivacyRequest.objects.filter(pk__in=[c.pk for c in overdue]).update(overdue_alerted_at=now)
        PrivacyRequest.objects.filter(pk__in=[c.pk for c in at_risk]).update(at_risk_alerted_at=now)
    return {"overdue": len(overdue), "at_risk": len(at_risk)}
