"""The analytics ecosystem's own clients, pointed at a live hub: Segment's and RudderStack's Python
SDKs (unmodified, sync mode), and what a service reads back (its per-event outcomes) and what the
ledger holds (tests/e2e/test_segment_sdks.py)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rudderstack.analytics import Client as RudderClient
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError as SegmentAPIError

from audit.selectors import ledger_events_for_subject
from consent.models import Service
from profiles.collection.models import EventPurpose
from profiles.collection.selectors import ledger_message_id
from profiles.identity.models import Subject
from profiles.identity.subjects import subject_find
from tests.e2e.conftest import http
from tests.factories import CONSENT_PURPOSES, minimization_policy, notice_published, service_with_key

SDKS = ("segment", "rudder")
API_ERRORS: dict[str, type[Exception]] = {"segment": SegmentAPIError, "rudder": RudderAPIError}


def sdk_client(sdk: str, *, key: str, host: str, gzip: bool = True) -> Any:
    """The SDK's own client, as an app configures it: write key, host, sync mode (each call is one
    POST to host + /v1/batch, and an error is raised to the caller)."""
    client_class = {"segment": SegmentClient, "rudder": RudderClient}[sdk]
    return client_class(write_key=key, host=host, sync_mode=True, gzip=gzip, timeout=30)


@dataclass
class SegmentHub:
    """A live hub (gunicorn) and the services an app already instrumented with Segment talks to."""

    base: str
    shop_key: str  # events:write; default purpose analytics, identify → personalization
    shop: Service
    banner_key: str  # consents:write (the site's consent banner, through the hub's API)

    def consent(self, user_id: str, *purposes: str) -> None:
        """The person chose `purposes` on the banner (POST /api/v1/consents over HTTP)."""
        status, _, body = http(
            "POST", f"{self.base}/api/v1/consents",
            {"user_id": user_id, "decisions": dict.fromkeys(purposes, "granted")},
            headers={"Authorization": f"Bearer {self.banner_key}"},
        )  # fmt: skip
        assert status == 201, body

    def outcomes(self, message_ids: Sequence[str], *, key: str | None = None) -> dict[str, tuple[str, str]]:
        """Each message id's (status, reason), as the sending service reads them back."""
        status, _, body = http(
            "POST", f"{self.base}/api/v1/events/outcomes", {"message_ids": list(message_ids)},
            headers={"Authorization": f"Bearer {key or self.shop_key}"},
        )  # fmt: skip
        assert status == 200, body
        return {row["message_id"]: (row["status"], row["reason"]) for row in body["results"]}

    def report(self, *, key: str | None = None) -> list[dict[str, Any]]:
        """The service's outcome counts (GET /api/v1/events/report)."""
        status, _, body = http(
            "GET",
            f"{self.base}/api/v1/events/report",
            headers={"Authorization": f"Bearer {key or self.shop_key}"},
        )
        assert status == 200, body
        return list(body["counts"])

    def post_raw(self, body: dict[str, Any], *, key: str) -> tuple[int, Any]:
        """What the SDKs send (/v1/batch with the key as HTTP Basic user name), to read the answer."""
        basic = base64.b64encode(f"{key}:".encode()).decode()
        status, _, answer = http(
            "POST", f"{self.base}/v1/batch", body, headers={"Authorization": f"Basic {basic}"}
        )
        return status, answer


def segment_hub(web_process: Any, *, shop_scopes: Sequence[str] = ("events:write",)) -> SegmentHub:
    """The shop (registered for every consent purpose; its events' purpose is analytics unless the
    tracking plan says otherwise: identify is personalization), what minimization keeps, a notice,
    the banner's key, and a live web server."""
    notice_published(CONSENT_PURPOSES)
    shop = service_with_key(name="shop", purposes=["essential", *CONSENT_PURPOSES], scopes=shop_scopes)
    Service.objects.filter(pk=shop.service.pk).update(default_purpose_id="analytics")
    EventPurpose.objects.create(service=shop.service, event_type="identify", purpose_id="personalization")
    minimization_policy(
        "analytics", "track:Product Viewed", ("properties.sku", "user.behavior.browsing_history")
    )
    minimization_policy("personalization", "identify", ("traits.plan", "user.account"))
    minimization_policy("analytics", "group", ("traits.group_id", "user.account"))
    banner = service_with_key(name="banner", purposes=CONSENT_PURPOSES, scopes=["consents:write"])
    base, _ = web_process()
    shop.service.refresh_from_db()
    return SegmentHub(base=base, shop_key=shop.secret, shop=shop.service, banner_key=banner.secret)


def person(user_id: str) -> Subject:
    subject = subject_find(kind="user_id", value=user_id)
    assert subject is not None, "nobody is known by this user id"
    return subject


def subject_of(kind: str, value: str) -> uuid.UUID | None:
    found = subject_find(kind=kind, value=value)
    return found.id if found else None


def ledger_by_message(subject: Subject, message_ids: Sequence[str]) -> dict[str, tuple[str, str | None, Any]]:
    """The subject's ledger events for these client message ids: id → (type, purpose, payload).
    (The ledger keeps a keyed hash of a client's message id, never the id itself.)"""
    wanted = {ledger_message_id(message_id): message_id for message_id in message_ids}
    return {
        wanted[event.stored.meta.message_id]: (
            event.stored.meta.event_type, event.stored.meta.purpose, event.payload
        )
        for event in ledger_events_for_subject(subject_id=subject.id)
        if event.stored.meta.message_id in wanted
    }  # fmt: skip


def new_user_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"
