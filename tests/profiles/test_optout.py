"""CCPA requests without an account: the banner's POST /collect/opt-out (for the device) and the
portal's /portal/do-not-sell and /portal/limit-sensitive pages (no sign-in). Each takes effect at
once in the gate and files a case for officers; each boundary is tried from the wrong side."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.gate import decide
from consent.models import ConsentState, Purpose, Service
from profiles.identity.subjects import subject_find
from profiles.requests.models import PrivacyRequest
from tests.factories import EMAIL, SHOP_ORIGIN, notice_published, person, site_with_key
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db
REGION = "HTTP_X_HUB_REGION"
BEACON = "text/plain;charset=UTF-8"


@pytest.fixture
def site(purposes: list[str], settings) -> Service:
    settings.HUB_TRUSTED_JURISDICTION_HEADER = "X-Hub-Region"
    notice_published(purposes[1:])
    # personalization uses precise location here: a "limit" request covers it
    Purpose.objects.filter(key="personalization").update(data_categories=["user.location.precise"])
    return site_with_key(purposes=["essential", "analytics", "personalization", "advertising"])


def _client(origin: str | None = SHOP_ORIGIN, **headers: str) -> Client:
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    return Client(**{REGION: "US-CA", **headers})


def _opt_out(client: Client, body: object, content_type: str = BEACON):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/collect/opt-out", data=raw, content_type=content_type)


def _device_in_california(site: Service) -> uuid.UUID:
    """A device the banner has seen in California (which grants nothing: opt-out regime)."""
    aid = str(uuid.uuid4())
    body = {"site": site.site_key, "anonymous_id": aid, "decisions": {"analytics": True}, "notice_version": 1}
    assert _client().post("/collect/consent", data=json.dumps(body), content_type=BEACON).status_code == 201
    subject = subject_find(kind="anonymous_id", value=aid)
    assert subject is not None and subject.jurisdiction == "US-CA"
    return uuid.UUID(aid)


# --- the banner's link --------------------------------------------------------------------------
def test_do_not_sell_takes_effect_at_once_for_the_device_and_files_a_case(
    site, django_capture_on_commit_callbacks, run
):
    aid = _device_in_california(site)
    subject = subject_find(kind="anonymous_id", value=str(aid))
    # in California, advertising needs no "yes" — until the person opts out
    assert decide(subject.id, "advertising", fresh=True).allowed

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _opt_out(
            _client(), {"site": site.site_key, "anonymous_id": str(aid), "kind": "sale_share"}
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "sale_share" and body["applied"] == ["advertising"]
    # the gate refuses at once, from the read model (no worker has run)
    assert not decide(subject.id, "advertising", fresh=True).allowed
    assert decide(subject.id, "analytics", fresh=True).allowed
    state = ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising")
    assert (state.status, state.source, state.method, state.expires_at) == (
        "refused",
        "banner",
        "click",
        None,
    )
    # a case for officers: the device's subject, the banner's channel, acknowledged and running
    case = PrivacyRequest.objects.get(pk=body["request_id"])
    assert (case.type, case.subject_id, case.channel, case.regime) == (
        "opt_out",
        subject.id,
        "banner",
        "ccpa",
    )
    assert case.status == "in_progress" and case.verification == "not_required"
    assert ("requests.run", (str(case.id),)) in [(t.name, t.args) for t in tasks_queued(callbacks)]
    # the workflow, when it runs, finds the opt-out already applied and records nothing twice
    events = len(ledger_events_for_subject(subject_id=subject.id))
    done = run(str(case.id))
    assert done.status == "fulfilled" and done.result["purposes_stopped"] == []
    refusals = [
        e for e in ledger_events_for_subject(subject_id=subject.id)[events:]
        if e.stored.meta.event_type.startswith("consent.")
    ]  # fmt: skip
    assert refusals == []


def test_limit_stops_the_sensitive_purposes_only(site):
    aid = _device_in_california(site)
    response = _opt_out(
        _client(), {"site": site.site_key, "anonymous_id": str(aid), "kind": "limit_sensitive"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["applied"] == ["personalization"]
    subject = subject_find(kind="anonymous_id", value=str(aid))
    assert not decide(subject.id, "personalization", fresh=True).allowed
    assert decide(subject.id, "advertising", fresh=True).allowed
    assert PrivacyRequest.objects.get(pk=response.json()["request_id"]).type == "limit_sensitive"


def test_an_unknown_device_is_remembered_as_opted_out(site):
    aid = str(uuid.uuid4())
    response = _opt_out(_client(), {"site": site.site_key, "anonymous_id": aid, "kind": "sale_share"})
    assert response.status_code == 201
    subject = subject_find(kind="anonymous_id", value=aid)
    assert subject is not None and not decide(subject.id, "advertising", fresh=True).allowed


def test_an_opt_out_outlasts_the_banners_remembered_refusal(site):
    aid = _device_in_california(site)
    body = {
        "site": site.site_key,
        "anonymous_id": str(aid),
        "decisions": {"advertising": False},
        "notice_version": 1,
    }
    assert _client().post("/collect/consent", data=json.dumps(body), content_type=BEACON).status_code == 201
    subject = subject_find(kind="anonymous_id", value=str(aid))
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising").expires_at is not None
    _opt_out(_client(), {"site": site.site_key, "anonymous_id": str(aid), "kind": "sale_share"})
    # "Reject all" is remembered for a while; "Do Not Sell" lasts
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising").expires_at is None


@pytest.mark.parametrize(
    ("client_kwargs", "body", "status", "code"),
    [
        ({}, {"site": "pk_unknown", "anonymous_id": "a", "kind": "sale_share"}, 403, "collect.unknown_site"),
        ({"origin": "https://evil.example"}, None, 403, "collect.origin_not_allowed"),
        ({"origin": None}, None, 403, "collect.origin_required"),
        ({"origin": "null"}, None, 403, "collect.origin_not_allowed"),
        ({}, {"kind": "sell_everything"}, 400, "optout.unknown_kind"),
        ({}, {"kind": None}, 400, "optout.unknown_kind"),
        ({}, {"anonymous_id": 12345}, 400, "optout.anonymous_id"),
        ({}, {"anonymous_id": ""}, 400, "optout.anonymous_id"),
        ({}, {"anonymous_id": "x" * 201}, 400, "optout.anonymous_id"),
        ({}, {"anonymous_id": "bad\u0000id"}, 400, "malformed_request"),
        ({}, {"anonymous_id": "bad\u0007id"}, 400, "identity.invalid_identifier"),
        ({}, {"site": None}, 400, "collect.missing_site"),
    ],
)
def test_the_boundary_refuses_and_changes_nothing(site, client_kwargs, body, status, code):
    full = {"site": site.site_key, "anonymous_id": str(uuid.uuid4()), "kind": "sale_share"}
    full.update(body or {})
    full = {key: value for key, value in full.items() if value is not None or key == "kind"}
    response = _opt_out(_client(**client_kwargs), full)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not PrivacyRequest.objects.exists()
    assert not ConsentState.objects.filter(purpose_id="advertising").exists()


def test_malformed_and_oversized_bodies_are_refused(site, settings):
    assert _opt_out(_client(), "{not json").status_code == 400
    assert _opt_out(_client(), "[1, 2]").status_code == 400
    assert _opt_out(_client(), {"site": site.site_key}, content_type="application/xml").status_code == 415
    big = {"site": site.site_key, "anonymous_id": "a", "kind": "sale_share", "pad": "x" * (1024 * 1024 + 1)}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
    assert _opt_out(_client(), big).status_code == 413
    assert not PrivacyRequest.objects.exists()


# --- the portal's pages, without signing in ---------------------------------------------------------
def _portal(**headers: str) -> Client:
    return Client(**headers)


@pytest.fixture
def zoe(site, hub_settings):
    """Zoë, known by email, who said yes to advertising (in the EU)."""
    subject = person(email=EMAIL, jurisdiction="EU")
    consent_record(subject_id=subject.id, decisions={"advertising": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    assert decide(subject.id, "advertising", fresh=True).allowed
    return subject


def test_the_pages_need_no_sign_in_and_are_linked_from_every_page(site):
    for path in ("/portal/do-not-sell", "/portal/limit-sensitive", "/portal/sign-in"):
        page = _portal().get(path)
        assert page.status_code == 200, path
        html = page.content.decode()
        assert 'href="/portal/do-not-sell"' in html and 'href="/portal/limit-sensitive"' in html
    form = _portal().get("/portal/do-not-sell").content.decode()
    assert 'name="csrfmiddlewaretoken"' in form and 'name="identifier"' in form


def test_an_email_opts_its_person_out_at_once_and_the_answer_is_the_same_for_a_stranger(zoe):
    done = _portal().post("/portal/do-not-sell", {"identifier": f"  {EMAIL.upper()} "})
    assert done.status_code == 200
    assert 'role="status"' in done.content.decode()
    assert "We will not sell or share your personal information." in done.content.decode()
    assert not decide(zoe.id, "advertising", fresh=True).allowed
    case = PrivacyRequest.objects.get(subject_id=zoe.id)
    assert (case.type, case.channel, case.verification) == ("opt_out", "portal", "not_required")
    state = ConsentState.objects.get(subject_id=zoe.id, purpose_id="advertising")
    assert (state.status, state.source) == ("withdrawn", "portal")

    stranger = _portal().post("/portal/do-not-sell", {"identifier": "nobody-we-know@example.org"})
    assert stranger.status_code == 200
    assert _without_token(stranger.content) == _without_token(done.content)
    assert PrivacyRequest.objects.filter(subject_id__isnull=True, type="opt_out").count() == 1


def _without_token(html: bytes) -> str:
    import re

    return re.sub(r'value="[A-Za-z0-9]{64}"', "", html.decode())


def test_the_portal_applies_to_the_hubs_device_cookie_too(site):
    aid = _device_in_california(site)
    client = _portal()
    client.cookies["hub_aid"] = str(aid)
    assert "This browser is covered too." in client.get("/portal/limit-sensitive").content.decode()
    done = client.post("/portal/limit-sensitive", {"identifier": ""})
    assert done.status_code == 200 and "This applies to this browser now." in done.content.decode()
    subject = subject_find(kind="anonymous_id", value=str(aid))
    assert not decide(subject.id, "personalization", fresh=True).allowed
    assert PrivacyRequest.objects.get(subject_id=subject.id).type == "limit_sensitive"


def test_gpc_on_the_page_opts_a_known_device_out_and_says_so(site):
    aid = _device_in_california(site)
    subject = subject_find(kind="anonymous_id", value=str(aid))
    client = _portal(HTTP_SEC_GPC="1")
    client.cookies["hub_aid"] = str(aid)
    page = client.get("/portal/do-not-sell").content.decode()
    assert "We applied it to this browser" in page
    assert not decide(subject.id, "advertising", fresh=True).allowed
    # without a device the hub knows, it says what GPC does and records nothing
    stranger = _portal(HTTP_SEC_GPC="1")
    stranger.cookies["hub_aid"] = str(uuid.uuid4())
    assert "We honour it on every site" in stranger.get("/portal/do-not-sell").content.decode()


def test_bad_input_is_a_400_that_files_nothing(site):
    nobody = _portal().post("/portal/do-not-sell", {"identifier": ""})  # no address and no device cookie
    assert nobody.status_code == 400
    for value in ("not an address", "12345", "a" * 201):
        assert _portal().post("/portal/do-not-sell", {"identifier": value}).status_code == 400
    garbage = _portal()
    garbage.cookies["hub_aid"] = "../../etc/passwd"  # not a device id: ignored
    assert garbage.post("/portal/do-not-sell", {}).status_code == 400
    assert not PrivacyRequest.objects.exists()


def test_the_form_needs_its_csrf_token(site):
    forged = Client(enforce_csrf_checks=True).post("/portal/do-not-sell", {"identifier": EMAIL})
    assert forged.status_code == 403
    assert not PrivacyRequest.objects.exists()


def test_the_form_is_rate_limited_per_address_and_per_identifier(site, settings):
    settings.HUB_PORTAL_RATE_LIMIT = 2
    for _ in range(2):
        assert _portal().post("/portal/do-not-sell", {"identifier": EMAIL}).status_code == 200
    third = _portal().post("/portal/do-not-sell", {"identifier": "+14155550123"})
    assert third.status_code == 429 and third["Retry-After"]
    assert PrivacyRequest.objects.count() == 2
