"""Signing into the portal without a password, and portal sessions.

A sign-in link is a signed token carrying a link id and a nonce; the database keeps only a
hash of the nonce, so a link works once, for HUB_PORTAL_LINK_MINUTES, and a leaked table
mints nothing. An emailed link is minted by a task that reads the address from the ledger
(the request only ever names the link's id). The forms' rate limits count attempts with
`hub.ratelimit`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.selectors import ledger_events_for_subjects
from audit.services import Actor
from consent.throttling import longest_window
from consent.translations import language_supported
from hub.enqueue import enqueue_after_commit
from hub.errors import DomainError
from hub.ratelimit.services import attempts_purge
from profiles.collection.contact import contact_unlink
from profiles.collection.stitching import subjects_absorbing
from profiles.identity.event_types import IDENTITY_LINKED
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Identifier, IdentifierKind, Subject
from profiles.identity.subjects import identifier_hash, subject_find
from profiles.portal.models import PortalSession, SignInLink
from profiles.requests.selectors import EPOCH

logger = logging.getLogger(__name__)

LINK_SALT = "portal.sign-in"
SESSION_SUBJECT = "portal_subject_id"
SESSION_IDENTIFIER = "portal_identifier_hash"  # the identifier the session was opened with (a keyed hash)


class InvalidSignInLink(DomainError):
    code = "portal.sign_in_link_invalid"
    status = 404


# --- sign-in links ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedLink:
    link: SignInLink
    token: str

    @property
    def url(self) -> str:
        return sign_in_url(self.token)


def sign_in_url(token: str) -> str:
    path = reverse("portal:sign_in_link", kwargs={"token": token})
    return f"{settings.HUB_PUBLIC_URL.rstrip('/')}{path}"


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _lifetime() -> timedelta:
    return timedelta(minutes=settings.HUB_PORTAL_LINK_MINUTES)


def _arm(link: SignInLink) -> str:
    """Give the link a fresh nonce (only its hash is kept) and return the token that carries it."""
    nonce = secrets.token_urlsafe(24)
    link.nonce_hash = _nonce_hash(nonce)
    return signing.dumps({"l": str(link.id), "n": nonce}, salt=LINK_SALT)


@transaction.atomic
def sign_in_link_request(*, email: str, language: str | None = None, now: datetime | None = None) -> None:
    """Someone asked for a link for `email`. Whether or not the address is known, the caller
    answers the same; a known one gets a link row now and the email after commit, written in
    `language` (default: the language of the request being served)."""
    subject = subject_find(kind="email", value=email)
    if subject is None or subject.erased_at is not None:
        return
    now = now or timezone.now()
    link = SignInLink.objects.create(
        subject_id=subject.id,
        identifier_hash=identifier_hash("email", email),
        issued_by="subject:email",
        created_at=now,
        expires_at=now + _lifetime(),
        language=language_supported(language),
    )
    enqueue_after_commit("portal.send_sign_in_link", str(link.id))


def _email_address(link: SignInLink) -> str | None:
    """The address the link was asked for: the linked email whose keyed hash is the link's, while
    it is still linked (the person may have removed it since)."""
    holder = subjects_absorbing(subject_id=link.subject_id)[-1]
    if not Identifier.objects.filter(kind=IdentifierKind.EMAIL, value_hash=link.identifier_hash).exists():
        return None
    linked = ledger_events_for_subjects(
        subject_ids=[holder, *subjects_absorbed_into(survivor_id=holder)],
        recorded_since=EPOCH,
        type_prefix=IDENTITY_LINKED.name,
    )
    for event in reversed(linked):
        payload = event.payload
        if not isinstance(payload, dict) or payload.get("kind") != "email":
            continue
        if hmac.compare_digest(identifier_hash("email", payload.get("value")), link.identifier_hash):
            return str(payload["value"])
    return None


@transaction.atomic
def sign_in_link_send(*, link_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Mint the emailed link's token and send it; True if sent now. Runs once per link: a link
    already sent, used or expired is left alone (a retried task sends nothing twice)."""
    now = now or timezone.now()
    link = SignInLink.objects.select_for_update().filter(pk=link_id).first()
    if link is None or link.sent_at or link.used_at or link.expires_at <= now:
        return False
    address = _email_address(link)
    if address is None:  # erased or unlinked since: nobody to write to
        return False
    token = _arm(link)
    link.sent_at = now
    link.save(update_fields=["nonce_hash", "sent_at"])
    with translation.override(language_supported(link.language)):  # the asker's language, not the worker's
        body = _(
            "Someone asked to sign in to the privacy portal with this address. If it was you, open this "
            "link within %(minutes)s minutes; it works once:\n\n%(link)s\n\n"
            "If it was not you, ignore this email; nothing will happen."
        ) % {"minutes": settings.HUB_PORTAL_LINK_MINUTES, "link": sign_in_url(token)}
        subject = _("Your sign-in link to the privacy portal")
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return True


@transaction.atomic
def sign_in_link_mint(
    *, subject_id: uuid.UUID, identifier_hash: str, issued_by: str, now: datetime | None = None
) -> IssuedLink:
    """A link for a person someone else has authenticated (a service, for its signed-in user)."""
    now = now or timezone.now()
    link = SignInLink(
        subject_id=subject_id,
        identifier_hash=identifier_hash,
        issued_by=issued_by,
        created_at=now,
        expires_at=now + _lifetime(),
    )
    token = _arm(link)
    link.save()
    return IssuedLink(link, token)


def _invalid() -> InvalidSignInLink:
    return InvalidSignInLink("This sign-in link is not valid, has expired or was already used.")


def sign_in_link_check(*, token: str, now: datetime | None = None) -> SignInLink:
    """The link a token stands for, if genuine, unexpired, unused and its subject not erased."""
    now = now or timezone.now()
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=_lifetime())
        link = SignInLink.objects.get(pk=uuid.UUID(str(data["l"])))
        nonce = str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, SignInLink.DoesNotExist):
        raise _invalid() from None
    if link.used_at is not None or link.expires_at <= now or not link.nonce_hash:
        raise _invalid()
    if not hmac.compare_digest(link.nonce_hash, _nonce_hash(nonce)):
        raise _invalid()
    if not Subject.objects.filter(pk=link.subject_id, erased_at__isnull=True).exists():
        raise _invalid()
    return link


@transaction.atomic
def sign_in_link_consume(*, token: str, now: datetime | None = None) -> SignInLink:
    """Spend the link (once) and return it: the subject it signs in, with which identifier."""
    now = now or timezone.now()
    link = SignInLink.objects.select_for_update().get(pk=sign_in_link_check(token=token, now=now).pk)
    sign_in_link_check(token=token, now=now)  # again, under the lock: two presses, one sign-in
    link.used_at = now
    link.save(update_fields=["used_at"])
    return link


# --- sessions --------------------------------------------------------------------------------
def _session_lifetime() -> timedelta:
    return timedelta(minutes=settings.HUB_PORTAL_SESSION_MINUTES)


@transaction.atomic
def portal_session_open(
    *, session: SessionBase, subject_id: uuid.UUID, identifier_hash: str = "", now: datetime | None = None
) -> None:
    """Sign the browser in: a new session key (no fixation), short-lived, remembered per subject.
    `identifier_hash`: the identifier the person proved (it cannot be unlinked from this session)."""
    now = now or timezone.now()
    previous = session.session_key
    session.cycle_key()
    if previous:
        PortalSession.objects.filter(session_key=previous).delete()
    session[SESSION_SUBJECT] = str(subject_id)
    session[SESSION_IDENTIFIER] = identifier_hash
    session.set_expiry(int(_session_lifetime().total_seconds()))
    session.save()
    key = session.session_key
    assert key is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    PortalSession.objects.update_or_create(
        session_key=key,
        defaults={"subject_id": subject_id, "created_at": now, "expires_at": now + _session_lifetime()},
    )


@transaction.atomic
def portal_sign_in(*, token: str, session: SessionBase) -> uuid.UUID:
    """Spend a sign-in link and sign this browser in as its subject, both or neither."""
    link = sign_in_link_consume(token=token)
    portal_session_open(session=session, subject_id=link.subject_id, identifier_hash=link.identifier_hash)
    return link.subject_id


def portal_session_subject(*, session: SessionBase, now: datetime | None = None) -> uuid.UUID | None:
    """The subject this session signed in, while the session and the subject both live."""
    raw, key = session.get(SESSION_SUBJECT), session.session_key
    if not raw or not key:
        return None
    try:
        subject_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    now = now or timezone.now()
    live = PortalSession.objects.filter(session_key=key, subject_id=subject_id, expires_at__gt=now).exists()
    if not live or not Subject.objects.filter(pk=subject_id, erased_at__isnull=True).exists():
        return None
    return subject_id


def portal_session_identifier(*, session: SessionBase) -> str:
    """The keyed hash of the identifier this session was opened with ("" if not known)."""
    found = session.get(SESSION_IDENTIFIER)
    return found if isinstance(found, str) else ""


@transaction.atomic
def portal_identifier_unlink(
    *, session: SessionBase, subject_ids: Sequence[uuid.UUID], identifier_id: int, actor: Actor
) -> None:
    """The signed-in person removes one of their contact identifiers (never the one this session
    was opened with); sign-in links asked for it and not yet used die with it."""
    value_hash = (
        Identifier.objects.filter(pk=identifier_id, subject_id__in=list(subject_ids))
        .values_list("value_hash", flat=True)
        .first()
    )
    contact_unlink(
        subject_ids=subject_ids,
        identifier_id=identifier_id,
        actor=actor,
        keep_hash=portal_session_identifier(session=session),
    )
    SignInLink.objects.filter(identifier_hash=value_hash, used_at__isnull=True).delete()


def portal_session_close(*, session: SessionBase) -> None:
    """Sign out: the session row and its data are gone, the browser gets a fresh empty session."""
    if session.session_key:
        PortalSession.objects.filter(session_key=session.session_key).delete()
    session.flush()


@transaction.atomic
def portal_sessions_end(*, subject_id: uuid.UUID) -> int:
    """End every portal session of a subject (erasure) and void its unused links; returns how many
    sessions ended. The Django sessions themselves are deleted, not just forgotten here."""
    keys = list(PortalSession.objects.filter(subject_id=subject_id).values_list("session_key", flat=True))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()
    PortalSession.objects.filter(session_key__in=keys).delete()
    SignInLink.objects.filter(subject_id=subject_id).delete()
    return len(keys)


# --- housekeeping ----------------------------------------------------------------------------
def portal_purge_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Delete expired links, ended sessions' rows and attempts that fell out of every window."""
    now = now or timezone.now()
    window = timedelta(seconds=max(settings.HUB_PORTAL_RATE_WINDOW_SECONDS, longest_window()))
    links = SignInLink.objects.filter(expires_at__lte=now).delete()[0]
    sessions = PortalSession.objects.filter(expires_at__lte=now).delete()[0]
    attempts = attempts_purge(older_than=now - window)
    logger.info("portal purge links=%s sessions=%s attempts=%s", links, sessions, attempts)
    return {"links": links, "sessions": sessions, "attempts": attempts}
