"""Every page: one subject's data only, GPC honoured and shown, CSRF on every form, accessible
markup with no inline script (the site's CSP allows none)."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.models import ConsentState
from profiles.identity.subjects import identifier_hash
from profiles.portal.services import sign_in_link_mint
from profiles.requests.domain import Channel
from profiles.requests.services import request_submit
from tests.factories import OTHER_USER_ID, USER_ID, path_of, signed_in
from tests.portal.conftest import assert_no_inline_script

pytestmark = pytest.mark.django_db
PAGES = ("/portal/consent", "/portal/data", "/portal/requests")
GPC_MESSAGE = "Your browser asked us not to sell or share your data (Global Privacy Control); we applied it."


def _gpc_events(subject) -> list[str]:
    return [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)
            if e.payload and e.payload.get("source") == "gpc"]  # fmt: skip


def test_gpc_is_applied_once_and_shown(zoe, zoe_client):
    consent_record(subject_id=zoe.id, decisions={"advertising": True, "analytics": True}, actor=Actor.system(),
                   context=Context())  # fmt: skip
    plain = zoe_client.get("/portal/consent").content.decode()
    assert GPC_MESSAGE not in plain
    for path in PAGES:
        html = zoe_client.get(path, HTTP_SEC_GPC="1").content.decode()
        assert GPC_MESSAGE in html, path
    advertising = ConsentState.objects.get(subject_id=zoe.id, purpose_id="advertising")
    assert (advertising.status, advertising.source) == ("withdrawn", "gpc")
    assert ConsentState.objects.get(subject_id=zoe.id, purpose_id="analytics").status == "given"  # not GPC's
    assert _gpc_events(zoe) == ["consent.withdrawn"]  # three pages, one decision
    assert GPC_MESSAGE not in zoe_client.get("/portal/data", HTTP_SEC_GPC="0").content.decode()
    # while the browser sends GPC, the portal does not offer to turn a GPC purpose back on
    html = zoe_client.get("/portal/consent", HTTP_SEC_GPC="1").content.decode()
    assert (
        "> for Advertising</span></button>" not in html
        and "Global Privacy Control signal keeps this off" in html
    )
    grant = {"purpose": "advertising", "granted": "1", "notice_version": "1"}  # the page's notice
    assert zoe_client.post("/portal/consent/choice", grant, HTTP_SEC_GPC="1").status_code == 409
    assert ConsentState.objects.get(subject_id=zoe.id, purpose_id="advertising").status == "withdrawn"
    assert zoe_client.post("/portal/consent/choice", grant).status_code == 302  # the person's own choice
    assert ConsentState.objects.get(subject_id=zoe.id, purpose_id="advertising").status == "given"


def test_csrf_is_enforced_on_every_form(zoe):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/portal/sign-in", {"email": "a@example.org"}).status_code == 403
    issued = sign_in_link_mint(
        subject_id=zoe.id, identifier_hash=identifier_hash("user_id", USER_ID), issued_by="t"
    )
    link = path_of(issued.url)
    assert browser.post(link).status_code == 403  # and the link is not spent by it
    page = browser.get(link).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(link, {"csrfmiddlewaretoken": token}).status_code == 302
    for path, body in (
        ("/portal/consent/choice", {"purpose": "analytics", "granted": "1"}),
        ("/portal/requests", {"type": "access"}),
        ("/portal/sign-out", {}),
    ):
        assert browser.post(path, body).status_code == 403, path
    assert not ConsentState.objects.filter(subject_id=zoe.id).exists()
    assert browser.get("/portal/consent").status_code == 200  # still signed in
    form_token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.get("/portal/consent").content.decode()
    )
    choice = {
        "purpose": "analytics",
        "granted": "1",
        "notice_version": "1",
        "csrfmiddlewaretoken": form_token.group(1),
    }
    assert browser.post("/portal/consent/choice", choice).status_code == 302


def test_one_session_never_shows_another_subjects_data(zoe, bruno, zoe_client):
    consent_record(
        subject_id=bruno.id, decisions={"marketing": True}, actor=Actor.system(), context=Context()
    )
    theirs = request_submit(kind="access", subject_id=bruno.id, channel=Channel.SERVICE, actor=Actor.system(),
                            vouched=True)  # fmt: skip
    their_decisions = [str(e.stored.meta.event_id) for e in ledger_events_for_subject(subject_id=bruno.id)]
    brunos_client = signed_in(Client(), bruno, OTHER_USER_ID)
    assert str(theirs.id) in brunos_client.get("/portal/requests").content.decode()
    for path in PAGES:
        html = zoe_client.get(path).content.decode()
        for secret in [str(bruno.id), str(theirs.id), OTHER_USER_ID, *their_decisions]:
            assert secret not in html, (path, secret)
    # nothing in the address or a form names the subject: extra fields are ignored
    zoe_client.post("/portal/requests", {"type": "access", "subject_id": str(bruno.id)})
    zoe_client.post(
        "/portal/consent/choice",
        {"purpose": "analytics", "granted": "1", "notice_version": "1", "subject_id": str(bruno.id)},
    )
    assert not ConsentState.objects.filter(subject_id=bruno.id, purpose_id="analytics").exists()
    assert ConsentState.objects.filter(subject_id=zoe.id, purpose_id="analytics").exists()
    assert {c.subject_id for c in type(theirs).objects.filter(channel="portal")} == {zoe.id}


def _pages(zoe_client) -> dict[str, str]:
    anonymous = Client()
    pages = {path: zoe_client.get(path) for path in PAGES}
    pages["/portal/consent/receipts/<someone else's>"] = zoe_client.get(
        f"/portal/consent/receipts/{uuid.uuid4()}"
    )
    pages["/portal/requests (invalid form)"] = zoe_client.post("/portal/requests", {"type": "erasure"})
    pages["/portal/sign-in"] = anonymous.get("/portal/sign-in")
    pages["/portal/sign-in (invalid)"] = anonymous.post("/portal/sign-in", {"email": "nope"})
    pages["/portal/sign-in (sent)"] = anonymous.post("/portal/sign-in", {"email": "a@example.org"})
    pages["/portal/sign-in/<bad>"] = anonymous.get("/portal/sign-in/bad-token")
    return {name: response for name, response in pages.items()}


def test_every_page_is_accessible_markup_without_inline_script(zoe, zoe_client, settings):
    consent_record(subject_id=zoe.id, decisions={"analytics": True}, actor=Actor.system(), context=Context())
    zoe_client.post("/portal/requests", {"type": "access"})
    for name, response in _pages(zoe_client).items():
        html = response.content.decode()
        assert response["Content-Security-Policy"].startswith("default-src 'self'"), name
        assert "no-store" in response["Cache-Control"], name
        assert_no_inline_script(html)
        assert '<html lang="en">' in html, name
        assert html.count("<h1") == 1, name
        assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html, name
        assert "<header" in html and "<footer" in html, name
        assert '<link rel="stylesheet" href="/static/portal/portal.css">' in html, name
        if name in PAGES:
            assert '<nav class="site-nav" aria-label="Portal">' in html and 'aria-current="page"' in html, (
                name
            )
        # every control has a label: inputs by <label for>, buttons by their text
        for control in re.finditer(r"<(input|textarea|select)\b[^>]*>", html):
            tag = control.group(0)
            if 'type="hidden"' in tag:
                continue
            control_id = re.search(r'\sid="([^"]+)"', tag)
            assert control_id and f'for="{control_id.group(1)}"' in html, (name, tag)
        for button in re.finditer(r"<button\b[^>]*>(.*?)</button>", html, re.DOTALL):
            assert re.sub(r"<[^>]+>|\s", "", button.group(1)), (name, button.group(0))
    sign_in = Client().get("/portal/sign-in")
    assert sign_in.status_code == 200 and b'autocomplete="email"' in sign_in.content


def test_the_stylesheet_is_served_and_has_a_visible_focus_style(client):
    from django.contrib.staticfiles import finders

    css = open(finders.find("portal/portal.css"), encoding="utf-8").read()
    assert ":focus-visible" in css and "outline: 3px solid" in css and ".skip-link:focus" in css
