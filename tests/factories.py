"""Factories for the whole suite: services and their keys, sites, notices, people, officers.

One way to make each thing; fixtures (tests/conftest.py, or a file's own one-line variant) call
these with keyword arguments for what differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import Group, Permission, User
from django.db.models import Q
from django.test import Client
from rest_framework.test import APIClient

from audit.services import Actor
from consent.clients import IssuedKey, service_register, service_site_key_issue
from consent.decisions import Context, consent_record, notice_publish
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import MinimizationPolicy, Notice, PolicyField, Service
from profiles.identity.models import Subject
from profiles.identity.subjects import identifier_hash, identifier_link
from profiles.portal.services import sign_in_link_mint
from profiles.requests.models import PrivacyRequest
from profiles.requests.verification import request_verify_link, verification_link_issue
from tests.profiles.projection_support import drain

# The person most tests are about, and another one (values that must not survive an erasure)
EMAIL = "zoe.marker@example.org"
USER_ID = "zoe-user-7731"
NAME = "Zoë Quartermain"
PLAN = "platinum-marker-plan"
OTHER_EMAIL = "bruno.other@example.org"
OTHER_USER_ID = "bruno-user-4410"

SHOP_ORIGIN = "https://shop.example"
# every purpose of the default catalog that needs consent (all but `essential`)
CONSENT_PURPOSES = ["analytics", "personalization", "marketing", "advertising"]


# --- services, their keys and their sites ---------------------------------------------------------
def api_client(secret: str | None = None, **headers: Any) -> APIClient:
    """An API client presenting `secret` as its bearer key (none: an anonymous caller)."""
    client = APIClient(**headers)
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def service_with_key(
    *, name: str | None = None, purposes: Sequence[str], scopes: Sequence[str], webhook_url: str = ""
) -> IssuedKey:
    """A registered service and its key (a unique name unless one is given)."""
    return service_register(
        name=name or f"svc-{uuid.uuid4().hex[:8]}", purposes=purposes, scopes=scopes, webhook_url=webhook_url
    )


def service_client(
    *, name: str | None = None, purposes: Sequence[str], scopes: Sequence[str], webhook_url: str = ""
) -> APIClient:
    """The API client of a newly registered service."""
    issued = service_with_key(name=name, purposes=purposes, scopes=scopes, webhook_url=webhook_url)
    return api_client(issued.secret)


def site_key_for(service: Service, *, origins: Sequence[str] = (SHOP_ORIGIN,)) -> Service:
    """Give `service` a public site key, usable from pages at `origins`."""
    service_site_key_issue(service=service)
    service.allowed_origins = list(origins)
    service.save()
    return service


def site_with_key(
    *,
    name: str = "shop",
    purposes: Sequence[str] = ("essential", "analytics"),
    scopes: Sequence[str] = (),
    origins: Sequence[str] = (SHOP_ORIGIN,),
) -> Service:
    """A service browsers name by its public site key (the banner's and the snippet's)."""
    return site_key_for(
        service_with_key(name=name, purposes=purposes, scopes=scopes).service, origins=origins
    )


def notice_published(purposes: Sequence[str], *, title: str = "Notice", text: str = "v1") -> Notice:
    """The next version of the privacy notice, covering `purposes`."""
    notice, _ = notice_publish(title=title, text=text, purposes=list(purposes), actor=Actor.system())
    return notice


def minimization_policy(
    purpose: str, event_type: str, *fields: tuple[str, str] | tuple[str, str, str]
) -> MinimizationPolicy:
    """What collection keeps of `event_type` for `purpose`: (field, data category[, transformation])."""
    policy = MinimizationPolicy.objects.create(purpose_id=purpose, event_type=event_type)
    for name, category, *transformation in fields:
        chosen = {"transformation": transformation[0]} if transformation else {}  # else the model's default
        PolicyField.objects.create(policy=policy, name=name, data_category=category, **chosen)
    return policy


# --- the shop of the request, portal and admin tests ----------------------------------------------
@dataclass
class Shop:
    events: APIClient  # events:write, requests:write
    reader: APIClient  # profiles:read (a downstream service that reads profiles)
    officer: APIClient  # requests:approve
    service_id: uuid.UUID
    reader_id: uuid.UUID


def shop_services(*, webhook_url: str = "") -> Shop:
    """The shop, the recommender that reads its profiles (webhooks to `webhook_url`) and the
    officers' desk; a notice for every consent purpose, and what the shop's identify and
    Product Viewed events keep."""
    notice_published(CONSENT_PURPOSES)
    shop = service_with_key(
        name="shop", purposes=["analytics", "personalization", "marketing", "essential"],
        scopes=["events:write", "requests:write"],
    )  # fmt: skip
    reader = service_with_key(
        name="recommender", purposes=["personalization"], scopes=["profiles:read"], webhook_url=webhook_url
    )
    desk = service_with_key(name="dpo-desk", purposes=[], scopes=["requests:approve"])
    minimization_policy(
        "personalization", "identify", ("traits.name", "user.name"), ("traits.plan", "user.account")
    )
    minimization_policy(
        "analytics", "track:Product Viewed", ("properties.sku", "user.behavior.browsing_history")
    )
    return Shop(api_client(shop.secret), api_client(reader.secret), api_client(desk.secret), shop.service.id,
                reader.service.id)  # fmt: skip


# --- people -------------------------------------------------------------------------------------
def person(
    user_id: str = USER_ID,
    email: str | None = EMAIL,
    *,
    jurisdiction: str = "EU",
    linked_by: Shop | None = None,
) -> Subject:
    """A person known by user id (linked by the shop's key when `linked_by`, so its word vouches for
    them: one data point) and, unless None, by email."""
    actor = Actor("service", str(linked_by.service_id)) if linked_by else Actor.system()
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value=user_id, actor=actor, jurisdiction=jurisdiction
    )
    if email is not None:
        identifier_link(kind="email", value=email, subject_id=subject.id, actor=Actor.system())
    return subject


def person_consenting(user_id: str, *purposes: str) -> Subject:
    """A person known by user id (in the EU) who consented to `purposes`."""
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value=user_id, actor=Actor.system(), jurisdiction="EU"
    )
    consent_record(subject_id=subject.id, decisions=dict.fromkeys(purposes, True), actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    return subject


def person_known_to(shop: Shop, *, user_id: str = USER_ID, email: str = EMAIL) -> Subject:
    """Zoë, known by user id and email, consenting to analytics; the shop sent one event about her
    under its own key (so the shop, and no other service, has linked her)."""
    subject = person(user_id, email)
    consent_record(subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    event = {"message_id": f"{user_id}-seen", "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": "analytics", "properties": {"sku": "SKU-1"}}  # fmt: skip
    response = shop.events.post("/api/v1/events", {"batch": [event]}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"], response.content
    return subject


def person_with_history(
    shop: Shop, *, user_id: str = USER_ID, email: str = EMAIL, name: str = NAME
) -> Subject:
    """A person known by user id and email, who consented, was tracked, profiled and read."""
    subject = person(user_id, email)
    consent_record(subject_id=subject.id, decisions={"analytics": True, "personalization": True, "marketing": True},
                   actor=Actor.system(), context=Context(jurisdiction="EU"))  # fmt: skip
    events = [
        {"message_id": f"{user_id}-i1", "type": "identify", "user_id": user_id, "purpose": "personalization",
         "traits": {"name": name, "plan": PLAN}},
        {"message_id": f"{user_id}-t1", "type": "track", "event": "Product Viewed", "user_id": user_id,
         "purpose": "analytics", "properties": {"sku": "SKU-1", "email": email}},
        {"message_id": f"{user_id}-t2", "type": "track", "event": "Product Viewed", "user_id": user_id,
         "purpose": "analytics", "properties": {"sku": "SKU-2"}},
    ]  # fmt: skip
    response = shop.events.post("/api/v1/events", {"batch": events}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 3, response.content
    drain()
    assert shop.reader.get(f"/api/v1/profiles/{subject.id}").status_code == 200  # a disclosure
    return subject


def path_of(url: str) -> str:
    return urlsplit(url).path


def signed_in(client: Client, subject: Subject, user_id: str) -> Client:
    """Sign `client` in to the portal as `subject` through a real one-time link (GET shows the
    button, POST signs in)."""
    issued = sign_in_link_mint(
        subject_id=subject.id, identifier_hash=identifier_hash("user_id", user_id), issued_by="test"
    )
    response = client.post(path_of(issued.url))
    assert response.status_code == 302 and response["Location"].endswith("/portal/consent"), response
    return client


# --- what services send -------------------------------------------------------------------------
def events_sent(client: APIClient, *events: dict[str, Any], **headers: Any) -> list[tuple[str, str]]:
    """POST a batch of events; (status, reason) of each."""
    response = client.post("/api/v1/events", {"batch": list(events)}, format="json", **headers)
    assert response.status_code == 200, response.content
    return [(r["status"], r["reason"]) for r in response.json()["results"]]


def identify_sent(client: APIClient, user_id: str, message_id: str, **parts: Any) -> dict[str, Any]:
    """POST one identify (purpose personalization) for `user_id`; the API's result for it."""
    event = {"message_id": message_id, "type": "identify", "user_id": user_id, "purpose": "personalization",
             **parts}  # fmt: skip
    response = client.post("/api/v1/events", event, format="json")
    assert response.status_code == 200, response.content
    result: dict[str, Any] = response.json()["results"][0]
    return result


def file_request(client: APIClient, kind: str, **fields: Any) -> dict[str, Any]:
    """File a privacy request through the API (for USER_ID unless an identifier is given)."""
    body = {"type": kind, **({"user_id": USER_ID} if not fields.keys() & {"user_id", "email", "anonymous_id"} else {}),
            **fields}  # fmt: skip
    response = client.post("/api/v1/privacy-requests", body, format="json")
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result


def link_confirmed(request_id: uuid.UUID | str) -> PrivacyRequest:
    """The person follows the one-time link the hub emails for a case (`request_verify_link`, what
    the confirmation page's POST does): the first data point, and the only channel an access,
    portability or erasure case's results reach the person by, so a service's or the portal's word
    alone never starts one. Returns the case as the link left it."""
    token = verification_link_issue(request_id=uuid.UUID(str(request_id)))
    assert token is not None, "the case is not waiting for verification"
    return request_verify_link(token=token)


# --- officers -----------------------------------------------------------------------------------
def officer(
    username: str,
    *,
    role: str | None = None,
    permissions: Sequence[str] = (),
    password: str = "pw-officer-123",
    email: str = "",
    superuser: bool = False,
) -> User:
    """A staff user: in the group of `role` (the roles migration's, installed by the `roles`
    fixture) and/or holding `permissions` ("app_label.codename"); a superuser if asked."""
    if superuser:
        return User.objects.create_superuser(username, email, password)
    user = User.objects.create_user(username, email, password, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    if permissions:
        wanted = Q()
        for dotted in permissions:
            app_label, codename = dotted.split(".", 1)
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        user.user_permissions.set(Permission.objects.filter(wanted))
    return user


def officer_client(user: User) -> Client:
    """A browser signed in to the admin as `user`."""
    client = Client()
    client.force_login(user)
    return client
