"""hub.js holds tags and embeds until consent, signals Consent Mode, and shares one choice across subdomains.

In a real Chromium on the demo shop (/demo/), whose held tags stand in for an analytics tag (sets
`_ga`), an inline marketing tag (sets `_fbp`) and a personalization embed (/demo/embed/).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from consent.models import ConsentState, Service
from profiles.demo.views import DEMO_SERVICE
from profiles.identity.subjects import subject_find
from tests.browser.conftest import CHROMIUM, accessibility_problems, screenshot
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records, from before any page script runs, every hub:tag event in order.
RECORD_TAGS = """
window.__tags = [];
window.addEventListener("hub:tag", function (e) { window.__tags.push(e.detail); });
window.addEventListener("hub:ready", function () { window.__ready = true; });
"""
# dataLayer as plain data: an Arguments object (what gtag pushes) becomes {"args": [...]}.
DATA_LAYER = """() => (window.dataLayer || []).map(function (e) {
  return Object.prototype.toString.call(e) === "[object Arguments]" ? {args: Array.from(e)} : e;
})"""


@pytest.fixture
def demo(purposes, live_server) -> str:
    call_command("seed_demo", verbosity=0)
    return f"{live_server.url}/demo/"


@pytest.fixture
def shop_page(context: Any, demo: str) -> Any:
    context.add_init_script(RECORD_TAGS)
    page = context.new_page()
    page.goto(demo)
    page.locator("#hub-banner").wait_for()
    page.wait_for_function("() => window.__ready === true")
    return page


def _runs(page: Any) -> dict[str, int]:
    return dict(page.evaluate("window.demoTagRuns || {}"))


def _cookie_names(context: Any) -> set[str]:
    return {c["name"] for c in context.cookies()}


def _page_cookies(page: Any) -> set[str]:
    return {part.split("=")[0] for part in page.evaluate("document.cookie").split("; ") if part}


def _ran_tags(page: Any) -> list[str]:
    return [t["purpose"] for t in page.evaluate("window.__tags") if t["outcome"] != "frame"]


def _consent_calls(page: Any) -> list[list[Any]]:
    return [e["args"] for e in page.evaluate(DATA_LAYER) if "args" in e and e["args"][0] == "consent"]


def _states(anonymous_id: str) -> dict[str, str]:
    subject = subject_find(kind="anonymous_id", value=anonymous_id)
    if subject is None:
        return {}
    return dict(ConsentState.objects.filter(subject_id=subject.id).values_list("purpose_id", "status"))


def test_nothing_held_runs_before_consent_and_each_tag_runs_once_after_accept_all(shop_page, context):
    page = shop_page
    page.wait_for_timeout(500)  # give a wrongly released tag time to run
    assert page.locator("#tag-analytics-state").inner_text().startswith("not run")
    assert page.locator("#tag-marketing-state").inner_text().startswith("not run")
    assert _runs(page) == {} and _ran_tags(page) == []
    assert not {"_ga", "_fbp"} & (_page_cookies(page) | _cookie_names(context))
    assert page.locator("#demo-embed").get_attribute("src") is None  # the embed is not even requested
    assert page.locator("script[data-hub-purpose][data-hub-state=held]").count() == 2

    page.click("#hub-accept-all")
    page.wait_for_function("() => (window.demoTagRuns || {}).marketing === 1")
    assert _runs(page) == {"analytics": 1, "marketing": 1}
    assert _ran_tags(page) == ["analytics", "marketing"]  # in document order: the external tag first
    assert page.locator("#tag-analytics-state").inner_text() == "ran"
    assert page.locator("#tag-marketing-state").inner_text() == "ran"
    assert {"_ga", "_fbp"} <= _cookie_names(context)
    assert page.locator("#demo-embed").get_attribute("src") == "/demo/embed/"
    assert "Recommended for you" in page.frame_locator("#demo-embed").locator("#embed-content").inner_text()
    assert page.locator("#tag-embed-state").inner_text() == "loaded"

    # the same choice again (from the persistent settings button) runs nothing twice
    page.click("#hub-settings-button")
    page.click("#hub-accept-all")
    page.locator("#hub-banner").wait_for(state="detached")
    page.wait_for_timeout(500)
    assert _runs(page) == {"analytics": 1, "marketing": 1}

    # a new page load runs each tag once for that page
    page.reload()
    page.wait_for_function("() => (window.demoTagRuns || {}).marketing === 1")
    page.wait_for_timeout(500)
    assert _runs(page) == {"analytics": 1, "marketing": 1}
    assert page.locator("#hub-banner").count() == 0
    assert page.locator("#hub-settings-button").is_visible()


def test_reject_all_leaves_tags_inert_and_the_placeholder_loads_the_embed_with_consent(shop_page, context):
    page = shop_page
    placeholder = page.locator(".hub-frame-placeholder")
    assert placeholder.is_visible() and not page.locator("#demo-embed").is_visible()
    assert "Personalization" in placeholder.inner_text()  # {purpose} is the purpose's name
    page.click("#hub-reject-all")
    page.locator("#hub-banner").wait_for(state="detached")
    page.wait_for_timeout(500)
    assert _runs(page) == {} and not {"_ga", "_fbp"} & _cookie_names(context)
    assert page.locator("#demo-embed").get_attribute("src") is None

    page.click(".hub-load-frame")
    page.frame_locator("#demo-embed").locator("#embed-content").wait_for()
    assert placeholder.count() == 0
    decisions = page.evaluate("hub.decisions()")
    assert decisions["personalization"] is True
    assert decisions["analytics"] is False and decisions["marketing"] is False  # the others unchanged
    assert _runs(page) == {}
    anonymous_id = page.evaluate("hub.anonymousId()")
    wait_until(lambda: _states(anonymous_id).get("personalization") == "given", timeout=15)
    assert _states(anonymous_id)["analytics"] == "refused"


def test_a_tag_added_later_is_held_then_runs_on_consent(shop_page):
    page = shop_page
    add_tag = """(name) => {
      var tag = document.createElement("script");
      tag.type = "text/plain";
      tag.setAttribute("data-hub-purpose", "analytics");
      tag.nonce = document.querySelector("script[data-hub-purpose=marketing]").nonce; // the page's CSP
      tag.text = "window.late = (window.late || []); window.late.push('" + name + "');";
      document.body.appendChild(tag);
    }"""
    page.evaluate(add_tag, "first")
    page.wait_for_timeout(300)
    assert page.evaluate("window.late") is None
    assert page.locator("script[data-hub-state=held]").count() == 3
    page.click("#hub-accept-all")
    page.wait_for_function("() => (window.late || []).length === 1")
    page.evaluate(add_tag, "second")  # consent given: a new tag runs as soon as it is added
    page.wait_for_function("() => (window.late || []).length === 2")
    page.wait_for_timeout(300)
    assert page.evaluate("window.late") == ["first", "second"]


def test_withdrawal_deletes_the_purposes_cookies(shop_page, context):
    page = shop_page
    page.click("#hub-accept-all")
    page.wait_for_function("() => (window.demoTagRuns || {}).marketing === 1")
    page.evaluate("document.cookie = '_ga_DEMO=GS1.1; Path=/'")  # a wildcard pattern: _ga_*
    assert {"_ga", "_ga_DEMO", "_fbp"} <= _cookie_names(context)

    page.click("#hub-settings-button")
    page.locator("#hub-choices").wait_for()
    page.uncheck("#hub-purpose-analytics")
    page.uncheck("#hub-purpose-marketing")
    page.click("#hub-save-choices")
    page.locator("#hub-banner").wait_for(state="detached")
    names = _cookie_names(context)
    assert not {"_ga", "_ga_DEMO", "_fbp"} & names
    assert "hub_aid" in names  # the hub's own cookie stays
    assert not page.evaluate("hub.consented('analytics')")
    anonymous_id = page.evaluate("hub.anonymousId()")
    wait_until(lambda: _states(anonymous_id).get("analytics") == "withdrawn", timeout=15)
    # the tags do not run again on later page loads
    page.reload()
    page.wait_for_function("() => window.__ready === true")
    page.wait_for_timeout(500)
    assert _runs(page) == {} and not {"_ga", "_fbp"} & _cookie_names(context)


def test_consent_mode_default_comes_before_any_tag_and_updates_follow_each_decision(shop_page):
    page = shop_page
    calls = _consent_calls(page)
    default = {k: "denied" for k in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization",
               "functionality_storage", "personalization_storage", "security_storage")}  # fmt: skip
    assert calls[0] == ["consent", "default", {**default, "wait_for_update": 500}]  # nothing cached yet
    # the notice maps essential to functionality and security storage: granted at once
    assert calls[1] == ["consent", "update", {**default, "functionality_storage": "granted",
                                               "security_storage": "granted"}]  # fmt: skip
    assert len(calls) == 2
    page.click("#hub-accept-all")
    page.wait_for_function("() => (window.demoTagRuns || {}).marketing === 1")
    layer = page.evaluate(DATA_LAYER)
    default_at = next(i for i, e in enumerate(layer) if e.get("args", [None, None])[1] == "default")
    tags_at = [i for i, e in enumerate(layer) if e.get("event") == "demo_tag"]
    assert len(tags_at) == 2 and default_at < min(tags_at)  # Google's tags read the default first
    update_at = max(i for i, e in enumerate(layer) if e.get("args", [None, None])[1] == "update")
    assert update_at < min(tags_at)  # and the granting update before the tags it releases
    assert layer[update_at]["args"][2] == {k: "granted" for k in default}
    uet = page.evaluate("window.uetq")
    assert uet[:3] == ["consent", "default", {"ad_storage": "denied"}]
    assert uet[-3:] == ["consent", "update", {"ad_storage": "granted"}]

    page.click("#hub-settings-button")
    page.click("#hub-reject-all")
    calls = _consent_calls(page)
    assert calls[-1][1] == "update" and calls[-1][2]["analytics_storage"] == "denied"
    assert calls[-1][2]["ad_storage"] == "denied" and calls[-1][2]["security_storage"] == "granted"
    assert page.evaluate("window.uetq")[-3:] == ["consent", "update", {"ad_storage": "denied"}]

    # the next page's default comes from the stored choice and the cached mapping, before the notice
    page.reload()
    page.wait_for_function("() => window.__ready === true")
    first = _consent_calls(page)[0]
    assert first[1] == "default" and first[2]["security_storage"] == "granted"
    assert first[2]["analytics_storage"] == "denied"


def test_global_privacy_control_keeps_advertising_signals_denied(demo, browser):
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
    )
    try:
        page = context.new_page()
        page.goto(demo)
        page.click("#hub-accept-all")
        page.wait_for_function("() => (window.demoTagRuns || {}).analytics === 1")
        signals = _consent_calls(page)[-1][2]
        assert signals["analytics_storage"] == "granted"
        # advertising (GPC covers it) is mapped to all three: denied whatever was clicked
        assert signals["ad_storage"] == signals["ad_user_data"] == signals["ad_personalization"] == "denied"
        assert page.evaluate("window.uetq")[-1] == {"ad_storage": "denied"}
    finally:
        context.close()


def test_banner_placeholder_and_settings_button_are_accessible(shop_page):
    page = shop_page
    assert page.locator(".hub-frame-placeholder").is_visible()
    assert accessibility_problems(page) == []
    page.click("#hub-reject-all")
    settings = page.locator("#hub-settings-button")
    settings.wait_for()
    screenshot(page, "demo-held-tags")
    assert accessibility_problems(page) == []
    # keyboard operable: focus it and press Enter
    settings.focus()
    page.keyboard.press("Enter")
    page.locator("#hub-choices").wait_for()
    assert not settings.is_visible()  # hidden while the preferences are open
    page.keyboard.press("Escape")
    page.locator("#hub-banner").wait_for(state="detached")
    assert settings.is_visible()


def test_if_the_notice_cannot_be_loaded_nothing_held_ever_runs(demo, context):
    context.route("**/collect/notice*", lambda route: route.abort())  # the hub unreachable
    context.add_init_script(RECORD_TAGS)
    page = context.new_page()
    page.goto(demo)
    page.wait_for_function("() => window.__ready === true")
    page.wait_for_timeout(500)
    assert _runs(page) == {} and page.evaluate("window.__tags") == []
    assert page.locator("#hub-banner").count() == 0 and page.locator(".hub-frame-placeholder").count() == 0
    assert page.locator("#demo-embed").get_attribute("src") is None
    assert not page.evaluate("hub.consented('analytics')")
    assert _consent_calls(page) == [
        ["consent", "default", {**{k: "denied" for k in _SIGNALS}, "wait_for_update": 500}]
    ]


_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization", "functionality_storage",
            "personalization_storage", "security_storage")  # fmt: skip


def test_opt_out_regime_shows_a_notice_at_collection_with_do_not_sell(demo, browser, settings):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = "X-Hub-Region"  # the operator's proxy places the visitor
    context = browser.new_context(extra_http_headers={"X-Hub-Region": "US-CA"})
    context.add_init_script(RECORD_TAGS)
    try:
        page = context.new_page()
        page.goto(demo)
        notice = page.locator("#hub-notice-at-collection")
        notice.wait_for()
        assert page.locator("#hub-accept-all").count() == 0  # no consent asked: a notice and the links
        assert page.locator("#hub-do-not-sell").is_visible()  # "limit" only where the rule offers it
        # consent-based purposes are allowed until the visitor opts out
        page.wait_for_function("() => (window.demoTagRuns || {}).marketing === 1")
        assert page.evaluate("hub.consented('advertising')") is True
        assert accessibility_problems(page) == []
        page.click("#hub-do-not-sell")
        status = page.locator("#hub-optout-status")
        page.wait_for_function("() => document.getElementById('hub-optout-status').textContent !== ''")
        assert status.get_attribute("role") == "status"
        assert status.inner_text() == "Done: we will not sell or share your personal information."
        assert page.evaluate("hub.consented('advertising')") is False
        assert page.evaluate("hub.consented('analytics')") is True
        assert _consent_calls(page)[-1][2]["ad_personalization"] == "denied"
        anonymous_id = page.evaluate("hub.anonymousId()")
        assert _states(anonymous_id)["advertising"] in ("refused", "withdrawn")
        page.click("#hub-ok")
        notice.wait_for(state="detached")
        page.reload()
        page.wait_for_function("() => window.__ready === true")
        assert page.locator("#hub-notice-at-collection").count() == 0  # shown once per notice version
        assert page.evaluate("hub.consented('advertising')") is False  # the opt-out holds
        page.click("#hub-settings-button")
        page.locator("#hub-notice-at-collection").wait_for()
    finally:
        context.close()


# --- one choice across subdomains (data-cookie-domain) --------------------------------------------
SITE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{host}</title>
<script async src="/static/hub.js" data-site="{site}" data-cookie-domain="{domain}" {extra}></script>
</head><body><main><h1>{host}</h1></main></body></html>"""


@pytest.fixture
def subdomains(browser, demo, settings, live_server) -> Iterator[tuple[Any, int]]:
    """A Chromium that resolves *.shop.test to the live server (cookies with a Domain need a real domain)."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".shop.test"]
    launched = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP *.shop.test 127.0.0.1",
            # the test's pages are fulfilled by Playwright (no address): Chromium would count them as
            # public and refuse their requests to the loopback hub (Private Network Access)
            "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
            "LocalNetworkAccessChecks",
        ],
    )
    try:
        yield launched, urlsplit(live_server.url).port
    finally:
        launched.close()


def _site_context(launched: Any, port: int, domain: str = "shop.test", extra: str = "") -> Any:
    """Each subdomain's page is the test's own (served by route); hub.js and /collect/ are the live hub's."""
    site = Service.objects.get(name=DEMO_SERVICE).site_key
    context = launched.new_context()
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_TAGS)

    def serve(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        route.fulfill(
            content_type="text/html", body=SITE_PAGE.format(host=host, site=site, domain=domain, extra=extra)
        )

    context.route(re.compile(rf"^http://[a-z]+\.shop\.test:{port}/site/$"), serve)
    return context


def _open(context: Any, host: str, port: int) -> Any:
    page = context.new_page()
    page.goto(f"http://{host}:{port}/site/")
    page.wait_for_function("() => window.__ready === true")
    return page


def _cookie(context: Any, name: str) -> dict[str, Any] | None:
    return next((c for c in context.cookies() if c["name"] == name), None)


def test_one_choice_across_subdomains_and_restored_from_the_hub(subdomains):
    launched, port = subdomains
    context = _site_context(launched, port)
    try:
        first = _open(context, "a.shop.test", port)
        first.locator("#hub-banner").wait_for()
        first.click("#hub-choose")
        first.check("#hub-purpose-analytics")
        first.click("#hub-save-choices")
        first.locator("#hub-banner").wait_for(state="detached")
        aid, choice = _cookie(context, "hub_aid"), _cookie(context, "hub_consent")
        assert aid is not None and aid["domain"] == ".shop.test" and aid["sameSite"] == "Lax"
        assert choice is not None and choice["domain"] == ".shop.test"
        assert choice["value"] == "1.analytics"  # notice version and granted purposes: no personal data
        assert 182 * 86400 < choice["expires"] - first.evaluate("Date.now() / 1000") < 184 * 86400
        anonymous_id = first.evaluate("hub.anonymousId()")
        wait_until(lambda: _states(anonymous_id).get("analytics") == "given", timeout=15)

        # another subdomain: the same device and choice, no banner
        second = _open(context, "b.shop.test", port)
        assert second.locator("#hub-banner").count() == 0
        assert second.evaluate("hub.anonymousId()") == anonymous_id
        assert second.evaluate("hub.consented('analytics')") is True
        assert second.evaluate("hub.consented('marketing')") is False

        # the choice cookie is gone (expired, cleared) but the device id stays: the hub restores it
        context.clear_cookies(name="hub_consent")
        restored = _open(context, "c.shop.test", port)
        assert restored.locator("#hub-banner").count() == 0
        assert restored.evaluate("hub.decisions()")["analytics"] is True
        assert restored.evaluate("hub.decisions()")["marketing"] is False
        assert _cookie(context, "hub_consent")["value"] == "1.analytics"
    finally:
        context.close()


def test_a_cookie_domain_that_is_not_the_pages_is_ignored(subdomains):
    launched, port = subdomains
    context = _site_context(launched, port, domain="evil.test")
    try:
        page = _open(context, "a.shop.test", port)
        page.locator("#hub-banner").wait_for()
        page.click("#hub-reject-all")
        aid = _cookie(context, "hub_aid")
        assert aid is not None and aid["domain"] == "a.shop.test"  # host-only, as without the attribute
        assert _cookie(context, "hub_consent") is None  # the choice stays in this host's storage
        other = _open(context, "b.shop.test", port)
        other.locator("#hub-banner").wait_for()  # another host: not shared
    finally:
        context.close()


def test_consent_mode_and_the_settings_button_can_be_turned_off(subdomains):
    launched, port = subdomains
    context = _site_context(launched, port, extra='data-consent-mode="off" data-settings-button="off"')
    try:
        page = _open(context, "a.shop.test", port)
        page.click("#hub-accept-all")
        page.locator("#hub-banner").wait_for(state="detached")
        page.wait_for_timeout(300)
        assert page.evaluate("[typeof window.dataLayer, typeof window.uetq]") == ["undefined", "undefined"]
        assert page.locator("#hub-settings-button").count() == 0
        assert page.evaluate("hub.consented('analytics')") is True
    finally:
        context.close()
