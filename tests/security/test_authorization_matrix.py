"""The authorization matrix: every URL pattern of the project × every kind of caller → one status.

The routes are enumerated from the resolver, so a new route fails `test_every_route_is_classified`
until it gets a row here. Callers, in column order:

  anon     nobody (no cookie, no key)
  subj_a   the portal signed in as subject A (who owns every id in the URLs below)
  subj_b   the portal signed in as subject B
  noscope  a service holding every scope *except* those that open the route
  scoped   a service holding exactly the route's scope, registered for another purpose
           ("advertising") than most of A's data (analytics, personalization, marketing), and
           not the service that filed the privacy requests in the URLs
  viewer   a staff user in the "viewer" group (audit/migrations/0004_roles.py)
  officer  a staff user in the "officer" group

A cell is a status code, or LOGIN / SIGNIN: a 302 to the admin's login / the portal's sign-in.
Ownership is part of it: subject B gets A's receipt as a 404, the scoped service another
service's case as a 404, and a purpose it is not registered for as a 403 or a 404.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.incidents import incident_save
from audit.models import Checkpoint, Incident, LedgerEvent
from audit.services import Actor
from consent.clients import service_register, service_site_key_issue
from consent.decisions import Context, consent_record
from consent.models import Assessment, ConsentCategory, Scope, Service, WebhookDelivery
from profiles.activation.models import StreamState
from profiles.collection.models import EventPurpose, OutcomeCount, TrackingPlanEvent
from profiles.collection.stitching import subjects_merge
from profiles.identity.subjects import identifier_hash, subject_resolve
from profiles.models import ClusterModel, Segment, SegmentKind
from profiles.portal.services import sign_in_link_mint
from profiles.requests.export_files import export_link
from profiles.requests.models import Connector, ConnectorTask, LegalHold, PrivacyRequest
from profiles.requests.verification import verification_link_issue, verification_tiers_ensure
from tests.factories import (
    OTHER_EMAIL,
    OTHER_USER_ID,
    USER_ID,
    file_request,
    link_confirmed,
    officer,
    officer_client,
    path_of,
    person_with_history,
    service_client,
    shop_services,
    signed_in,
)
from tests.ledger_support import seal

CALLERS = ("anon", "subj_a", "subj_b", "noscope", "scoped", "viewer", "officer")
LOGIN = "LOGIN"  # 302 to /admin/login/
SIGNIN = "SIGNIN"  # 302 to /portal/sign-in
Cell = int | str
Row = tuple[Cell, Cell, Cell, Cell, Cell, Cell, Cell]


@dataclass(frozen=True)
class Check:
    method: str
    url: str  # with {placeholders} filled from the World
    expected: Row
    scopes: tuple[str, ...] = ()  # the "scoped" service holds exactly these
    needs: tuple[str, ...] = ()  # every scope that opens the route: the "noscope" service has none
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    kind: str  # api | portal | admin | public
    checks: tuple[Check, ...]


def api(*checks: Check) -> Route:
    return Route("api", checks)


def portal(*checks: Check) -> Route:
    return Route("portal", checks)


def public(*checks: Check) -> Route:
    return Route("public", checks)


def admin(*checks: Check) -> Route:
    return Route("admin", checks)


def get(url: str, expected: Row, scopes: tuple[str, ...] = (), needs: tuple[str, ...] = ()) -> Check:
    return Check("GET", url, expected, scopes, needs or scopes)


def post(url: str, expected: Row, scopes: tuple[str, ...], needs: tuple[str, ...] = (), **body: Any) -> Check:
    return Check("POST", url, expected, scopes, needs or scopes, body)


EVERYONE_200: Row = (200, 200, 200, 200, 200, 200, 200)
EVERYONE_404: Row = (404, 404, 404, 404, 404, 404, 404)
EVERYONE_405: Row = (405, 405, 405, 405, 405, 405, 405)
CONSENT_READ = ("consents:write", "profiles:read")  # any one of them opens the consent reads
CASE_READ = ("requests:write", "requests:approve")
WRITE, APPROVE = ("requests:write",), ("requests:approve",)
A_TRACKED = {"type": "track", "event": "Product Viewed", "user_id": USER_ID, "properties": {"sku": "SKU-M"}}
# consents TCF purposes 1-4, 7, 9, 10: by the default mapping, advertising yes, analytics no
TCF_STRING = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"

# --- the API, the public pages, the portal and the admin's own pages ------------------------------
# No API key → 401 even with a portal session or an officer's login (neither authenticates the API).
#                                                       anon  subj_a subj_b noscope scoped viewer officer
ROUTES: dict[str, Route] = {
    "": public(get("/", EVERYONE_200)),  # the landing page (hub/views.py), never the list of routes
    "api/v1/ledger/tree-head": public(get("/api/v1/ledger/tree-head", EVERYONE_200)),
    "api/v1/ledger/public-key": public(get("/api/v1/ledger/public-key", EVERYONE_200)),
    "api/v1/ledger/proofs/<str:event_id>": api(
        get("/api/v1/ledger/proofs/{event_id}", (401, 401, 401, 403, 200, 401, 401), ("ledger:read",))
    ),
    "api/v1/ledger/consistency": api(
        get(
            "/api/v1/ledger/consistency?first={first_size}&second={tree_size}",
            (401, 401, 401, 403, 200, 401, 401),
            ("ledger:read",),
        )
    ),  # fmt: skip
    "api/v1/consents": api(
        get(
            "/api/v1/consents?user_id={user_a}",
            (401, 401, 401, 403, 200, 401, 401),
            ("consents:write",),
            CONSENT_READ,
        ),
        # the scope, but not registered for analytics: 403 consent.purpose_not_registered
        post(
            "/api/v1/consents",
            (401, 401, 401, 403, 403, 401, 401),
            ("consents:write",),
            CONSENT_READ,
            user_id=USER_ID,
            decisions={"analytics": "denied"},
        ),
        post(
            "/api/v1/consents",
            (401, 401, 401, 403, 201, 401, 401),
            ("consents:write",),
            CONSENT_READ,
            user_id=USER_ID,
            decisions={"advertising": "granted"},
        ),
        # provenance is the hub's: a body naming its source is a 400 consent.provenance_not_accepted
        post(
            "/api/v1/consents",
            (401, 401, 401, 403, 400, 401, 401),
            ("consents:write",),
            CONSENT_READ,
            user_id=USER_ID,
            decisions={"advertising": "granted"},
            source="portal",
            method="click",
        ),
        # a TCF string speaking for analytics too: recorded for advertising only (see below)
        post(
            "/api/v1/consents",
            (401, 401, 401, 403, 201, 401, 401),
            ("consents:write",),
            CONSENT_READ,
            user_id=USER_ID,
            tcf_string=TCF_STRING,
        ),
    ),  # fmt: skip
    # a stated age only ever makes the person younger; the scoped service states a child's age
    "api/v1/parental-consents": api(
        post(
            "/api/v1/parental-consents",
            (401, 401, 401, 403, 202, 401, 401),
            ("consents:write",),
            user_id="kid-m",
            age=10,
        )
    ),
    "api/v1/consents/decision": api(
        get(
            "/api/v1/consents/decision?user_id={user_a}&purpose=advertising",
            (401, 401, 401, 403, 200, 401, 401),
            ("consents:write",),
            ("consents:write", "profiles:read", "events:write", "segments:read"),
        ),
    ),  # fmt: skip
    "api/v1/consents/receipts/<str:decision_id>": api(
        # A's analytics decision: the scoped service is not registered for analytics
        get(
            "/api/v1/consents/receipts/{decision_a}",
            (401, 401, 401, 403, 404, 401, 401),
            ("consents:write",),
            CONSENT_READ,
        ),
        get(
            "/api/v1/consents/receipts/{decision_a_ads}",
            (401, 401, 401, 403, 200, 401, 401),
            ("consents:write",),
            CONSENT_READ,
        ),
    ),  # fmt: skip
    "api/v1/events": api(
        post(
            "/api/v1/events",
            (401, 401, 401, 403, 200, 401, 401),
            ("events:write",),
            batch=[{**A_TRACKED, "message_id": "matrix-1", "purpose": "advertising"}],
        ),
    ),  # fmt: skip
    "api/v1/events/outcomes": api(
        # only the caller's own messages: another service's id is `unknown` to it (test_segment_api.py)
        post(
            "/api/v1/events/outcomes",
            (401, 401, 401, 403, 200, 401, 401),
            ("events:write",),
            message_ids=["matrix-1"],
        ),
    ),  # fmt: skip
    "api/v1/events/report": api(
        get("/api/v1/events/report", (401, 401, 401, 403, 200, 401, 401), ("events:write",))
    ),
    # Segment's tracking API: the write key is a service key (Basic, Bearer or writeKey), never a
    # portal session or an officer's (test_segment_api.py tries site keys, body keys and bad headers)
    "v1/batch": api(
        post(
            "/v1/batch",
            (401, 401, 401, 403, 200, 401, 401),
            ("events:write",),
            batch=[{"type": "track", "event": "Product Viewed", "userId": USER_ID, "messageId": "seg-1"}],
        ),
    ),  # fmt: skip
    **{
        f"v1/{kind}": api(
            post(
                f"/v1/{kind}",
                (401, 401, 401, 403, 200, 401, 401),
                ("events:write",),
                userId=USER_ID,
                messageId=f"seg-{kind}",
                event="Product Viewed",
                groupId="g-1",
                previousId="a-1",
            )
        )
        for kind in ("track", "identify", "page", "screen", "group", "alias")
    },  # fmt: skip
    "api/v1/identity/links": api(
        # a user the scoped service never identified: the 404 of an unknown user
        post(
            "/api/v1/identity/links",
            (401, 401, 401, 403, 404, 401, 401),
            ("events:write",),
            user_id="nobody-x",
            kind="email",
            value="matrix.claim@example.org",
        ),
    ),  # fmt: skip
    "api/v1/profiles": api(
        get("/api/v1/profiles?user_id={user_a}", (401, 401, 401, 403, 200, 401, 401), ("profiles:read",))
    ),
    "api/v1/profiles/<str:subject_id>": api(
        get("/api/v1/profiles/{subject_a}", (401, 401, 401, 403, 200, 401, 401), ("profiles:read",))
    ),
    "api/v1/segments/<str:key>/members": api(
        # a segment on analytics: the scoped service is not registered for it (403)
        get("/api/v1/segments/viewers/members", (401, 401, 401, 403, 403, 401, 401), ("segments:read",))
    ),
    "api/v1/privacy-requests": api(
        post(
            "/api/v1/privacy-requests",
            (401, 401, 401, 403, 201, 401, 401),
            WRITE,
            type="opt_out",
            user_id=USER_ID,
        ),
        # filed, but A was not linked by the scoped service: the case waits for A (see below)
        post(
            "/api/v1/privacy-requests",
            (401, 401, 401, 403, 201, 401, 401),
            WRITE,
            type="access",
            user_id=USER_ID,
        ),
    ),  # fmt: skip
    # a downstream system's acknowledgement: its signature is the credential (unsigned: 401), and only
    # an HTTP connector's task takes one (a manual task's id is not found)
    "api/v1/connector-tasks/<str:task_id>/acknowledgement": public(
        post("/api/v1/connector-tasks/{billing_task}/acknowledgement", (401,) * 7, (), status="done"),
        post("/api/v1/connector-tasks/{paper_task}/acknowledgement", EVERYONE_404, (), status="done"),
    ),
    # the signed, expiring link is the credential (the subject follows it from an email)
    "api/v1/privacy-requests/exports/<str:token>": public(
        get("/api/v1/privacy-requests/exports/{export_token}", EVERYONE_200),
        get("/api/v1/privacy-requests/exports/{export_token}x", EVERYONE_404),
    ),
    "api/v1/privacy-requests/<str:request_id>": api(
        # filed by the shop: another service with requests:write does not see it
        get("/api/v1/privacy-requests/{case_access}", (401, 401, 401, 403, 404, 401, 401), WRITE, CASE_READ),
        # a key with requests:approve (the officers' desk) sees every case
        get(
            "/api/v1/privacy-requests/{case_access}", (401, 401, 401, 403, 200, 401, 401), APPROVE, CASE_READ
        ),
    ),
    "api/v1/privacy-requests/<str:request_id>/approve": api(
        post("/api/v1/privacy-requests/{case_approve}/approve", (401, 401, 401, 403, 200, 401, 401), APPROVE)
    ),
    "api/v1/privacy-requests/<str:request_id>/reject": api(
        post(
            "/api/v1/privacy-requests/{case_reject}/reject",
            (401, 401, 401, 403, 200, 401, 401),
            APPROVE,
            reason="Not verifiable.",
        ),
    ),  # fmt: skip
    "api/v1/privacy-requests/<str:request_id>/extend": api(
        post(
            "/api/v1/privacy-requests/{case_extend}/extend",
            (401, 401, 401, 403, 200, 401, 401),
            APPROVE,
            reason="Many systems to search.",
            months=1,
        ),
    ),  # fmt: skip
    "api/v1/portal-links": api(
        # A was linked by the shop, not by the scoped service: the 404 of an unknown user
        post("/api/v1/portal-links", (401, 401, 401, 403, 404, 401, 401), ("portal:links",), user_id=USER_ID),
        post(
            "/api/v1/portal-links", (401, 401, 401, 403, 404, 401, 401), ("portal:links",), user_id="nobody-x"
        ),
    ),
    "api/schema/": public(get("/api/schema/", EVERYONE_200)),
    "api/docs/": public(get("/api/docs/", EVERYONE_200)),
    # readiness: no worker has been seen in this test, so "not ready", the same answer for everyone
    "healthz": public(get("/healthz", (503, 503, 503, 503, 503, 503, 503))),
    "livez": public(get("/livez", EVERYONE_200)),
    # open to loopback under test settings (the client is 127.0.0.1); production's token and network
    # rule, and its 404 for everyone else, are tested in tests/hub/test_metrics.py
    "metrics": public(get("/metrics", EVERYONE_200)),
    ".well-known/gpc.json": public(get("/.well-known/gpc.json", EVERYONE_200)),
    # the banner's endpoints: a public site key and an allowed origin, never a cookie or a key
    "collect/notice": public(get("/collect/notice?site={site_key}", EVERYONE_200)),  # the public notice
    # writes name their page (Origin or Referer): these callers send none, so 403 origin_required
    "collect/consent": public(post("/collect/consent", (403, 403, 403, 403, 403, 403, 403), ())),
    "collect/events": public(post("/collect/events", (403, 403, 403, 403, 403, 403, 403), ())),
    "collect/choice": public(post("/collect/choice", (403, 403, 403, 403, 403, 403, 403), ())),
    "collect/opt-out": public(post("/collect/opt-out", (403, 403, 403, 403, 403, 403, 403), ())),
    "collect/pixel.gif": public(get("/collect/pixel.gif?site={site_key}", EVERYONE_200)),
    "collect/age": public(post("/collect/age", (403, 403, 403, 403, 403, 403, 403), ())),
    "collect/parental-consent": public(
        post("/collect/parental-consent", (403, 403, 403, 403, 403, 403, 403), ())
    ),
    "demo/": public(get("/demo/", EVERYONE_200)),
    "demo/embed/": public(get("/demo/embed/", EVERYONE_200)),
    # the emailed one-time link is the credential; the GET only shows a button
    "privacy-requests/verify/<str:token>": public(
        get("/privacy-requests/verify/{verify_token}", EVERYONE_200),
        get("/privacy-requests/verify/{verify_token}x", EVERYONE_404),
    ),
    # --- the portal: the subject comes from the session only ------------------------------------
    "portal/": portal(get("/portal/", (302, 302, 302, 302, 302, 302, 302))),  # to the consent page
    "portal/sign-in": portal(get("/portal/sign-in", EVERYONE_200)),
    # CCPA §7026–7027: no account may be required, so no sign-in either
    "portal/do-not-sell": portal(get("/portal/do-not-sell", EVERYONE_200)),
    "portal/limit-sensitive": portal(get("/portal/limit-sensitive", EVERYONE_200)),
    # the portal's language switcher (a POST with a CSRF token): a GET only redirects home, sets nothing
    "i18n/setlang/": public(get("/i18n/setlang/", (302,) * 7)),
    "portal/sign-in/<str:token>": portal(
        get("/portal/sign-in/{sign_in_token}", EVERYONE_200),  # a button; the POST signs in
        get("/portal/sign-in/{sign_in_token}x", EVERYONE_404),
    ),
    # the parent's emailed one-time link is the credential: a forged one is the same 404 for everyone
    "portal/parental-consent/<str:token>": portal(get("/portal/parental-consent/forged", EVERYONE_404)),
    "portal/sign-out": portal(get("/portal/sign-out", EVERYONE_405)),  # POST only
    "portal/consent": portal(get("/portal/consent", (SIGNIN, 200, 200, SIGNIN, SIGNIN, SIGNIN, SIGNIN))),
    "portal/consent/choice": portal(get("/portal/consent/choice", EVERYONE_405)),  # POST only
    "portal/consent/receipts/<uuid:decision_id>": portal(
        get("/portal/consent/receipts/{decision_a}", (SIGNIN, 200, 404, SIGNIN, SIGNIN, SIGNIN, SIGNIN))
    ),
    "portal/data": portal(get("/portal/data", (SIGNIN, 200, 200, SIGNIN, SIGNIN, SIGNIN, SIGNIN))),
    "portal/data/identifiers/unlink": portal(
        get("/portal/data/identifiers/unlink", EVERYONE_405)
    ),  # POST only
    # objecting to a cluster model's profiling: POST only, and only to a model the person is in
    "portal/data/clusters/object": portal(
        get("/portal/data/clusters/object", EVERYONE_405),
        post(
            "/portal/data/clusters/object",
            (SIGNIN, 400, 400, SIGNIN, SIGNIN, SIGNIN, SIGNIN),
            (),
            segment="no-such-model",
        ),
    ),  # fmt: skip
    "portal/requests": portal(get("/portal/requests", (SIGNIN, 200, 200, SIGNIN, SIGNIN, SIGNIN, SIGNIN))),
    # --- the admin's own pages (hub/admin_site.py) and Django's ---------------------------------
    "admin/": admin(get("/admin/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/subjects/": admin(get("/admin/subjects/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/subjects/<uuid:subject_id>/": admin(
        get("/admin/subjects/{subject_a}/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    "admin/subjects/<uuid:subject_id>/jurisdiction/": admin(  # may establish a laxer regime: officers only
        get("/admin/subjects/{subject_a}/jurisdiction/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 405)),
        post(
            "/admin/subjects/{subject_a}/jurisdiction/",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 302),
            (),
            jurisdiction="EU",
        ),  # fmt: skip
    ),
    "admin/subjects/<uuid:subject_id>/age-band/": admin(  # may make a person older: officers only
        get("/admin/subjects/{subject_a}/age-band/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 405)),
        post(
            "/admin/subjects/{subject_a}/age-band/",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 302),
            (),
            age_band="adult",
        ),
    ),
    "admin/ledger/": admin(get("/admin/ledger/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/analytics/": admin(get("/admin/analytics/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/ropa/": admin(get("/admin/ropa/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/ropa.csv": admin(get("/admin/ropa.csv", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/recipients/": admin(get("/admin/recipients/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    "admin/login/": admin(get("/admin/login/", (200, 200, 200, 200, 200, 302, 302))),  # staff: to the index
    "admin/logout/": admin(get("/admin/logout/", (302, 302, 302, 302, 302, 405, 405))),  # POST only
    "admin/password_change/": admin(
        get("/admin/password_change/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    "admin/password_change/done/": admin(
        get("/admin/password_change/done/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    # without its model and field parameters the autocomplete refuses
    "admin/autocomplete/": admin(get("/admin/autocomplete/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 403))),
    "admin/jsi18n/": admin(get("/admin/jsi18n/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))),
    # no model of the hub has a public page: nothing to redirect to
    "admin/r/<path:content_type_id>/<path:object_id>/": admin(
        get("/admin/r/{purpose_type}/analytics/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, 404))
    ),
    "admin/privacy_requests/privacyrequest/metrics.csv": admin(
        get(
            "/admin/privacy_requests/privacyrequest/metrics.csv",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200),
        )
    ),
    "admin/privacy_requests/privacyrequest/file/": admin(  # filing a request for a person: officers only
        get("/admin/privacy_requests/privacyrequest/file/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 200))
    ),
    "admin/privacy_requests/connector/export.toml": admin(  # declarations hold no secret: viewers too
        get("/admin/privacy_requests/connector/export.toml", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    "admin/privacy_requests/connector/export.yaml": admin(
        get("/admin/privacy_requests/connector/export.yaml", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    # a case's downstream system: its page (identifiers shown to officers only), retry, completion
    "admin/privacy_requests/privacyrequest/<uuid:request_id>/systems/<uuid:task_id>/": admin(
        get(
            "/admin/privacy_requests/privacyrequest/{case_access}/systems/{paper_task}/",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200),
        ),
        post(
            "/admin/privacy_requests/privacyrequest/{case_access}/systems/{paper_task}/",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 302),
            (),
            complete="1",
            outcome="done",
            note="by hand",
        ),
        get(  # a system of another case is not found through this one
            "/admin/privacy_requests/privacyrequest/{case_approve}/systems/{paper_task}/",
            (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, 404),
        ),
    ),
    # the breach register: the record (viewers too); the affected subjects' ids: officers only
    "admin/audit/incident/<uuid:incident_id>/record/": admin(
        get("/admin/audit/incident/{incident}/record/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    "admin/audit/incident/<uuid:incident_id>/record.json": admin(
        get("/admin/audit/incident/{incident}/record.json", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200))
    ),
    "admin/audit/incident/<uuid:incident_id>/subjects.csv": admin(
        get("/admin/audit/incident/{incident}/subjects.csv", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 200))
    ),
    # "Train now" on a cluster model's page: officers (the segment change permission), by POST
    "admin/profiles/clustermodel/<path:object_id>/train/": admin(
        get("/admin/profiles/clustermodel/{obj_profiles_clustermodel}/train/", (*[LOGIN] * 5, 403, 405)),
        post("/admin/profiles/clustermodel/{obj_profiles_clustermodel}/train/", (*[LOGIN] * 5, 403, 302), ()),
    ),
    "admin/privacy_requests/legalhold/place/": admin(  # keeping data from an erasure: officers only
        get("/admin/privacy_requests/legalhold/place/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 200))
    ),
    "admin/^(?P<app_label>auth|auditlog|otp_totp|axes|audit|consent|profiles|privacy_requests|activation)/$": admin(
        get("/admin/consent/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 200, 200)),
        get("/admin/auth/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, 404)),  # no permission there at all
    ),
    # an authenticator's secret is never shown again after enrollment (OTP_ADMIN_HIDE_SENSITIVE_DATA)
    "admin/otp_totp/totpdevice/<int:pk>/config/": admin(
        get("/admin/otp_totp/totpdevice/{obj_otp_totp_totpdevice}/config/", (*[LOGIN] * 5, 403, 403))
    ),
    "admin/otp_totp/totpdevice/<int:pk>/qrcode/": admin(
        get("/admin/otp_totp/totpdevice/{obj_otp_totp_totpdevice}/qrcode/", (*[LOGIN] * 5, 403, 403))
    ),
    "admin/(?P<url>.*)$": admin(get("/admin/no-such-page/", (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, 404))),
}

# --- the admin's model pages: what each role may do with each model ----------------------------
# (viewer, officer) as letters: v(iew) a(dd) c(hange) d(elete), from the roles migration and each
# ModelAdmin: ledger rows, consent states, deliveries, cases and merges are read-only for everyone;
# keys are never added or deleted by hand; a published notice never changes. Users and groups
# belong to the "admin" role only.
ADMIN_MODELS: dict[str, tuple[str, str]] = {
    "auth/group": ("", ""),
    "auth/user": ("", ""),
    "auditlog/logentry": ("v", "v"),
    "audit/ledgerevent": ("v", "v"),
    "audit/checkpoint": ("v", "v"),
    "audit/incident": ("v", "vac"),  # the breach register: recorded by officers, never deleted
    "consent/purpose": ("v", "vac"),
    "consent/notice": ("v", "va"),
    "consent/jurisdiction": ("v", "vac"),
    "consent/minimizationpolicy": ("v", "vacd"),
    "consent/tcfpurposemapping": ("v", "vac"),
    "consent/consentcategory": ("v", "vacd"),
    "consent/consentstate": ("v", "v"),
    "consent/webhookdelivery": ("v", "v"),
    "consent/service": ("v", "vac"),  # registering a service decides who receives data
    "consent/servicekey": ("v", "vc"),  # revoking a key (new keys come from the service's page)
    "consent/assessment": ("v", "vac"),  # DPIAs and LIAs: officers write and approve, admins delete
    "privacy_requests/privacyrequest": ("v", "v"),  # decided through actions and the API, never edited
    "privacy_requests/connector": ("v", "vac"),
    "privacy_requests/verificationtier": ("v", "vc"),  # one row per type, seeded: levels change, rows stay
    "privacy_requests/legalhold": ("v", "v"),  # placed and released through its page and action only
    "profiles/subjectmerge": ("v", "v"),
    "profiles/segment": ("v", "vacd"),
    "profiles/clustermodel": ("v", "vacd"),  # a cluster model is a segment: the segment permissions
    "profiles/trackingplanevent": ("v", "vacd"),
    "profiles/eventpurpose": ("v", "vacd"),
    "profiles/outcomecount": ("v", "v"),
    "activation/streamstate": ("v", "v"),  # watched, never edited
    # sign-in lockouts (django-axes) and officers' authenticators (django-otp): superusers only
    "axes/accessattempt": ("", ""),
    "axes/accesslog": ("", ""),
    "axes/accessfailurelog": ("", ""),
    "otp_totp/totpdevice": ("", ""),
}
_OUTSIDERS = (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)  # anon, both subjects, both services


def _obj_key(model: str) -> str:
    return "obj_" + model.replace("/", "_")


def _model_routes(model: str, viewer: str, officer: str) -> dict[str, Route]:
    def row(letter: str) -> Row:
        return (*_OUTSIDERS, 200 if letter in viewer else 403, 200 if letter in officer else 403)

    base, obj = f"/admin/{model}/", f"/admin/{model}/{{{_obj_key(model)}}}/"
    routes = {
        f"admin/{model}/": admin(get(base, row("v"))),
        f"admin/{model}/add/": admin(get(f"{base}add/", row("a"))),
        f"admin/{model}/<path:object_id>/history/": admin(get(f"{obj}history/", row("v"))),
        f"admin/{model}/<path:object_id>/delete/": admin(get(f"{obj}delete/", row("d"))),
        # a read-only page when the role may view but not change
        f"admin/{model}/<path:object_id>/change/": admin(get(f"{obj}change/", row("v"))),
        # the old-style address redirects to the change page
        f"admin/{model}/<path:object_id>/": admin(get(obj, (*_OUTSIDERS, 302, 302))),
    }
    if model == "auth/user":
        routes["admin/auth/user/<id>/password/"] = admin(get(f"{obj}password/", row("c")))
    return routes


for _model, (_viewer, _officer) in ADMIN_MODELS.items():
    ROUTES.update(_model_routes(_model, _viewer, _officer))


# --- the enumeration -------------------------------------------------------------------------------
def _patterns(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern)


def all_routes() -> list[str]:
    return list(_patterns(get_resolver().url_patterns))


def test_every_route_is_classified():  # no database: the resolver alone
    routes = all_routes()
    assert len(routes) == len(set(routes)), "two routes share a pattern"
    unclassified = sorted(set(routes) - set(ROUTES))
    assert not unclassified, f"routes missing from the authorization matrix: {unclassified}"
    stale = sorted(set(ROUTES) - set(routes))
    assert not stale, f"matrix rows for routes that no longer exist: {stale}"
    for pattern, route in ROUTES.items():
        assert route.kind in {"api", "portal", "admin", "public"}, pattern
        assert route.checks and all(len(c.expected) == len(CALLERS) for c in route.checks), pattern
        if route.kind == "api":  # every scoped API route refuses keyless callers and scopeless keys
            assert all(c.expected[0] == 401 and c.expected[3] == 403 for c in route.checks), pattern
        if route.kind == "admin":
            assert all(c.expected[0] in (LOGIN, 200, 302) for c in route.checks), pattern


# --- the world the URLs point into ---------------------------------------------------------------
@dataclass
class World:
    values: dict[str, str]
    clients: dict[str, Client]
    services: Callable[[tuple[str, ...], tuple[str, ...]], tuple[APIClient, APIClient]]

    def url(self, template: str) -> str:
        return template.format(**self.values)


def _admin_objects() -> dict[str, str]:
    found = {}
    for model in ADMIN_MODELS:
        app_label, name = model.split("/")
        model_class = ContentType.objects.get(app_label=app_label, model=name).model_class()
        assert model_class is not None, model
        obj = model_class._default_manager.order_by("pk").first()
        assert obj is not None, f"no {model} to open in the admin"
        found[_obj_key(model)] = str(obj.pk)
    return found


def _sign_in_records() -> None:
    """An authenticator, a lockout record and sign-in logs, so their admin pages have rows to open."""
    TOTPDevice.objects.create(user=User.objects.get(username="matrix-officer"), name="phone")
    seen = {"user_agent": "matrix", "ip_address": "192.0.2.1", "username": "matrix-officer",
            "http_accept": "*/*", "path_info": "/admin/login/"}  # fmt: skip
    AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**seen)
    AccessFailureLog.objects.create(**seen)


@pytest.fixture
def world(purposes, settings, roles, tmp_path) -> World:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUB_PUBLIC_URL = "http://testserver"
    settings.HUB_EXPORT_ROOT = tmp_path
    from profiles.requests.workflow import request_run

    settings.HUB_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the reader's webhook is local
    verification_tiers_ensure()  # the migration's rows, flushed away by earlier transactional tests
    shop = shop_services(webhook_url="http://127.0.0.1:9/hooks")
    subject_a = person_with_history(shop)
    first_head = seal()  # sealing reads committed events only: this test commits (transaction=True)
    assert first_head is not None
    subject_b = person_with_history(shop, user_id=OTHER_USER_ID, email=OTHER_EMAIL, name="Bruno Other")
    consent_record(subject_id=subject_a.id, decisions={"advertising": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    consent_record(subject_id=subject_a.id, decisions={"personalization": False}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # a withdrawal: a webhook to the reader  # fmt: skip
    decisions = {
        e.purpose: str(e.event_id)
        for e in LedgerEvent.objects.filter(
            stream_id=subject_a.id, event_type__startswith="consent."
        ).order_by("recorded_at")
    }
    device = subject_resolve(kind="anonymous_id", value="matrix-device", actor=Actor.system())
    subjects_merge(survivor_id=subject_a.id, absorbed_id=device.id, actor=Actor.system())
    segment = Segment.objects.create(
        key="viewers", name="Viewers", condition={"trait": {"name": "plan", "op": "exists"}}
    )
    segment.purposes.set(["analytics"])
    # sorts after "viewers": the rule segments' pages open "viewers", which their admin lists
    clusters = Segment.objects.create(key="visit-groups", name="Visit groups", kind=SegmentKind.CLUSTER)
    clusters.purposes.set(["analytics"])
    ClusterModel.objects.create(segment=clusters, features=["analytics/aggregate:order_count"])
    TrackingPlanEvent.objects.create(event_type="track", name="Product Viewed")
    EventPurpose.objects.create(event_type="page", purpose_id="analytics")
    ConsentCategory.objects.create(name="Statistics", purpose_id="analytics")
    OutcomeCount.objects.create(service_id=shop.reader_id, day=timezone.now().date(), channel="hub",
                                status="accepted", count=1)  # fmt: skip
    StreamState.objects.create(service_id=shop.reader_id)
    paper = Connector.objects.create(key="paper", name="Paper archive", kind="manual", actions=["erasure"],
                                     instructions="Shred the folder.")  # fmt: skip
    billing = Connector.objects.create(key="billing", name="Billing", kind="http", actions=["erasure"],
                                       url="https://billing.example/privacy", secret_env="HUB_CONNECTOR_MATRIX")  # fmt: skip
    Assessment.objects.create(kind="dpia", purpose_id="analytics", title="matrix", review_by="2099-01-01")
    LegalHold.objects.create(subject_id=subject_a.id, purposes=["analytics"], ground="legal_claims", reason="matrix",
                             until=timezone.now().date(), created_at=timezone.now())  # fmt: skip
    access_id = file_request(shop.events, "access")["id"]
    link_confirmed(access_id)  # the person's link: with the shop's word, the two points access needs
    request_run(request_id=uuid.UUID(access_id))
    access = PrivacyRequest.objects.get(pk=access_id)
    assert access.status == "fulfilled", access.status
    export_url = export_link(access.export)  # the person's link (their portal, their email)
    paper_task = ConnectorTask.objects.create(
        request=access, connector=paper, action="erasure", status="waiting"
    )
    billing_task = ConnectorTask.objects.create(
        request=access, connector=billing, action="erasure", status="waiting"
    )
    erasures = [str(link_confirmed(file_request(shop.events, "erasure")["id"]).id) for _ in range(3)]
    by_email = file_request(shop.events, "access", email="someone.else@example.org")["id"]
    verify = verification_link_issue(request_id=uuid.UUID(by_email))
    link = sign_in_link_mint(
        subject_id=subject_a.id, identifier_hash=identifier_hash("user_id", USER_ID), issued_by="test"
    )
    incident = incident_save(
        incident=Incident(detected_at=timezone.now(), aware_at=timezone.now(), nature="matrix",
                          window_start=timezone.now() - timedelta(days=1), window_end=timezone.now()),
        actor=Actor.system(),
    )  # fmt: skip
    seal()
    viewer_browser = officer_client(officer("matrix-viewer", role="viewer"))
    officer_browser = officer_client(officer("matrix-officer", role="officer"))
    _sign_in_records()
    assert Checkpoint.objects.exists() and WebhookDelivery.objects.exists()
    values = {
        "user_a": USER_ID, "subject_a": str(subject_a.id), "event_id": str(
            LedgerEvent.objects.filter(stream_id=subject_a.id).order_by("recorded_at").first().event_id),
        "tree_size": str(Checkpoint.objects.order_by("-tree_size").first().tree_size),
        "first_size": str(first_head.tree_size),
        "decision_a": decisions["analytics"], "decision_a_ads": decisions["advertising"],
        "case_access": str(access.id), "case_approve": erasures[0], "case_reject": erasures[1],
        "case_extend": erasures[2], "paper_task": str(paper_task.id), "billing_task": str(billing_task.id),
        "export_token": export_url.rsplit("/", 1)[1], "verify_token": str(verify),
        "sign_in_token": path_of(link.url).rsplit("/", 1)[1],
        "site_key": service_site_key_issue(service=Service.objects.get(pk=shop.service_id)),
        "purpose_type": str(ContentType.objects.get(app_label="consent", model="purpose").pk),
        "incident": str(incident.pk),
        **_admin_objects(),
    }  # fmt: skip
    clients = {
        "anon": Client(),
        "subj_a": signed_in(Client(), subject_a, USER_ID),
        "subj_b": signed_in(Client(), subject_b, OTHER_USER_ID),
        "viewer": viewer_browser,
        "officer": officer_browser,
    }
    made: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[APIClient, APIClient]] = {}
    counter = itertools.count()

    def services(scopes: tuple[str, ...], needs: tuple[str, ...]) -> tuple[APIClient, APIClient]:
        """(a key with every scope but those that open the route, a key with exactly `scopes`)."""
        if (scopes, needs) not in made:
            pair = []
            for held in (sorted(set(Scope.values) - set(needs)), list(scopes)):
                pair.append(
                    service_client(name=f"matrix-{next(counter)}", purposes=["advertising"], scopes=held)
                )
            made[scopes, needs] = (pair[0], pair[1])
        return made[scopes, needs]

    return World(values, clients, services)


def _request(client: Client, check: Check, url: str) -> Any:
    if check.method == "GET":
        return client.get(url)
    if url.startswith("/admin/"):  # the admin's forms are posted as forms
        return client.post(url, check.body)
    return client.post(url, check.body, content_type="application/json")


def _seen(response: Any) -> Cell:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/admin/login/"):
            return LOGIN
        if location.startswith("/portal/sign-in"):
            return SIGNIN
    return int(response.status_code)


@pytest.mark.django_db(transaction=True)
def test_every_caller_gets_exactly_the_expected_status_on_every_route(world):
    checked, wrong = 0, []
    for pattern, route in ROUTES.items():
        for check in route.checks:
            url = world.url(check.url)
            noscope, scoped = world.services(check.scopes, check.needs)
            clients = {**world.clients, "noscope": noscope, "scoped": scoped}
            for caller, expected in zip(CALLERS, check.expected, strict=True):
                seen = _seen(_request(clients[caller], check, url))
                checked += 1
                if seen != expected:
                    wrong.append(
                        f"{check.method} {url} [{route.kind} {pattern}] as {caller}: {seen}, expected {expected}"
                    )
    assert not wrong, f"{len(wrong)} of {checked} cells differ:\n" + "\n".join(wrong)
    assert checked >= len(ROUTES) * len(CALLERS)


# --- ownership beyond status codes --------------------------------------------------------------
@pytest.fixture
def two_people(shop):
    a = person_with_history(shop)
    b = person_with_history(shop, user_id=OTHER_USER_ID, email=OTHER_EMAIL, name="Bruno Other")
    return shop, a, b


def _decision_ids(subject_id: uuid.UUID) -> list[str]:
    events = LedgerEvent.objects.filter(stream_id=subject_id, event_type__startswith="consent.")
    return [str(e) for e in events.values_list("event_id", flat=True)]


@pytest.mark.django_db(transaction=True)
def test_subject_a_never_sees_subject_b_in_the_portal(two_people):
    shop, a, b = two_people
    b_case = file_request(shop.events, "access", user_id=OTHER_USER_ID)["id"]
    a_case = file_request(shop.events, "access")["id"]
    as_a = signed_in(Client(), a, USER_ID)
    for decision in _decision_ids(b.id):  # B's receipts: as if they did not exist
        assert as_a.get(f"/portal/consent/receipts/{decision}").status_code == 404
    for decision in _decision_ids(a.id):
        assert as_a.get(f"/portal/consent/receipts/{decision}").status_code == 200
    b_marks = [str(b.id), OTHER_USER_ID, OTHER_EMAIL, "Bruno Other", b_case]
    pages = {
        url: as_a.get(url).content.decode() for url in ("/portal/consent", "/portal/data", "/portal/requests")
    }
    assert a_case in pages["/portal/requests"]
    for url, html in pages.items():
        assert not [mark for mark in b_marks if mark in html], url
    # nothing in the address or a form picks the subject: B's id as a parameter changes nothing
    assert OTHER_EMAIL not in as_a.get(f"/portal/data?subject_id={b.id}&subject={b.id}").content.decode()
    response = as_a.post("/portal/requests", {"type": "access", "subject_id": str(b.id)})
    assert response.status_code in (302, 400)
    assert not PrivacyRequest.objects.filter(stream_id=b.id).exclude(pk=b_case).exists()


@pytest.mark.django_db(transaction=True)
def test_a_service_never_sees_a_profile_field_outside_its_purposes(two_people):
    shop, a, _ = two_people
    everything = shop.reader.get(f"/api/v1/profiles/{a.id}").json()  # registered for personalization
    assert everything["traits"] and set(everything["purposes"]) == {"personalization"}
    for purposes in (["advertising"], ["analytics"], ["personalization"], ["analytics", "marketing"]):
        issued = service_register(
            name=f"reader-{'-'.join(purposes)}", purposes=purposes, scopes=["profiles:read"]
        )
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        for url in (f"/api/v1/profiles/{a.id}", f"/api/v1/profiles?user_id={USER_ID}"):
            body = client.get(url).json()
            assert set(body["purposes"]) <= set(purposes), (purposes, body)
            shown = {p["purpose"] for p in body["provenance"].values()} | set(body["aggregates"])
            assert shown <= set(purposes), (purposes, body)
            if "personalization" not in purposes:
                assert "name" not in body["traits"] and "plan" not in body["traits"], (purposes, body)


@pytest.mark.django_db(transaction=True)
def test_a_service_sees_only_the_cases_it_filed(two_people):
    shop, _, _ = two_people
    case = file_request(shop.events, "access")["id"]
    other = service_register(name="other-shop", purposes=["analytics"], scopes=["requests:write"])
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {other.secret}")
    assert client.get(f"/api/v1/privacy-requests/{case}").status_code == 404
    assert shop.events.get(f"/api/v1/privacy-requests/{case}").status_code == 200
    assert shop.officer.get(f"/api/v1/privacy-requests/{case}").status_code == 200  # requests:approve


# --- issue 12: a service's word, export links and provenance ------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_service_that_did_not_link_the_subject_cannot_vouch_or_mint_a_portal_link(two_people, stranger):
    shop, a, _ = two_people
    filed = file_request(stranger, "access")
    case = PrivacyRequest.objects.get(pk=filed["id"])
    assert filed["status"] == case.status == "received" and case.subject_id == a.id  # waits for A
    assert case.verification_points == []  # its word counts for nothing
    unknown = stranger.post("/api/v1/portal-links", {"user_id": "nobody-x"}, format="json")
    known = stranger.post("/api/v1/portal-links", {"user_id": USER_ID}, format="json")
    assert known.status_code == unknown.status_code == 404 and known.json() == unknown.json()
    # the shop, which linked A, still vouches: one of the two points an access needs, the other
    # being A's emailed link
    vouched = PrivacyRequest.objects.get(pk=file_request(shop.events, "access")["id"])
    assert vouched.status == "received" and vouched.verification_points == ["service"]
    assert link_confirmed(vouched.id).status == "in_progress"


@pytest.mark.django_db(transaction=True)
def test_a_case_filed_by_a_service_never_carries_a_download_url(two_people, settings, tmp_path):
    from profiles.requests.workflow import request_run

    settings.HUB_EXPORT_ROOT = tmp_path
    shop, _, _ = two_people
    case_id = file_request(shop.events, "access")["id"]
    link_confirmed(case_id)
    request_run(request_id=uuid.UUID(case_id))
    assert PrivacyRequest.objects.get(pk=case_id).status == "fulfilled"
    for client in (shop.events, shop.officer):  # the filer and the officers' key
        document = client.get(f"/api/v1/privacy-requests/{case_id}").json()
        assert document["status"] == "fulfilled"
        assert not {"download_url", "download_expires_at", "certificate"} & set(document)
        assert "/exports/" not in str(document)


@pytest.mark.django_db(transaction=True)
def test_a_service_records_consent_as_itself_and_only_for_its_purposes(two_people):
    shop, a, _ = two_people
    issued = service_register(name="ads-only", purposes=["advertising"], scopes=["consents:write"])
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    forged = client.post("/api/v1/consents", {"user_id": USER_ID, "decisions": {"advertising": "granted"},
                                              "source": "portal", "method": "click"}, format="json")  # fmt: skip
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "consent.provenance_not_accepted"
    before = set(_decision_ids(a.id))
    recorded = client.post("/api/v1/consents", {"user_id": USER_ID, "tcf_string": TCF_STRING}, format="json")
    assert recorded.status_code == 201
    assert [d["purpose"] for d in recorded.json()["decisions"]] == ["advertising"]
    new = LedgerEvent.objects.filter(event_id__in=set(_decision_ids(a.id)) - before)
    assert set(new.values_list("purpose", "actor_kind", "actor_id")) == {
        ("advertising", "service", str(issued.service.id))
    }
    receipt = client.get(f"/api/v1/consents/receipts/{recorded.json()['decisions'][0]['decision_id']}").json()
    assert receipt["receipt"]["event"]["collected_by"]["service"]["id"] == str(issued.service.id)
