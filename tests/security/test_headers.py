"""Security headers on every kind of response (hub/security.py, Django's middleware, settings)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from profiles.portal.decorators import CONTENT_SECURITY_POLICY as PORTAL_CSP

pytestmark = pytest.mark.django_db
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)

# one of each kind of response: JSON API (public and refused), project pages, the browser
# endpoints, the demo shop, the admin, the API docs and their script, a 404, a portal page
PAGES = [
    "/api/v1/ledger/tree-head",
    "/api/v1/ledger/public-key",
    "/api/v1/consents/decision",  # 401
    "/api/schema/",
    "/api/docs/",
    "/api/docs/?script",
    "/healthz",
    "/livez",
    "/.well-known/gpc.json",
    "/collect/notice?site=pk_unknown",
    "/collect/pixel.gif",
    "/demo/",
    "/admin/login/",
    "/admin/",  # a redirect to the login page
    "/no-such-page",
    "/portal/sign-in",
    "/static/hub.js",
]


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


@pytest.mark.parametrize("url", PAGES)
def test_every_response_carries_the_security_headers(purposes, client, url):
    response = client.get(url)
    # readiness answers 503 while no worker has been seen; every other page is below 500
    assert response.status_code < 500 or (url, response.status_code) == ("/healthz", 503)
    assert response["X-Content-Type-Options"] == "nosniff"
    # same-origin, never no-referrer (Chromium would send "Origin: null" and CSRF refuse the form)
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = _directives(response["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    if url == "/demo/":
        # the demo's one held inline tag (what a site's marked tag looks like) runs under a nonce made
        # per response: still no other inline script, no eval, no other origin
        assert csp["script-src"][0] == "'self'" and len(csp["script-src"]) == 2
        assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{16,}'", csp["script-src"][1])
        again = _directives(client.get(url)["Content-Security-Policy"])["script-src"][1]
        assert again != csp["script-src"][1]
    else:
        assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


@pytest.mark.parametrize("url", ["/portal/sign-in", "/portal/consent", "/portal/sign-in/not-a-token"])
def test_the_portal_keeps_its_stricter_policy_without_inline_styles(client, url):
    response = client.get(url)
    assert response["Content-Security-Policy"] == PORTAL_CSP
    assert _directives(PORTAL_CSP)["style-src"] == ["'self'"]


def test_hsts_is_sent_on_https_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    secure = client.get("/healthz", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/healthz")


def test_behind_the_proxy_https_is_recognised_and_plain_http_redirected_except_healthz(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    settings.SECURE_HSTS_SECONDS = 3600
    plain = client.get("/portal/sign-in")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/portal/sign-in"
    assert client.get("/healthz").status_code in (200, 503)  # a load balancer's probe
    proxied = client.get("/portal/sign-in", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200 and proxied["Strict-Transport-Security"] == "max-age=3600"


def test_shops_can_load_the_snippet_and_its_stylesheet_from_another_origin(client):
    for url in ("/static/hub.js", "/static/hub.css"):
        response = client.get(url, HTTP_ORIGIN="https://shop.example", HTTP_SEC_FETCH_SITE="cross-site")
        assert response.status_code == 200, url
        assert "Cross-Origin-Resource-Policy" not in response
        assert "Cross-Origin-Embedder-Policy" not in response
    assert client.get("/static/hub.js")["Content-Type"].startswith(
        ("text/javascript", "application/javascript")
    )


def test_the_api_docs_render_without_inline_script(client):
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="swagger-ui"' in html
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("script" in src and src.startswith("/api/docs/") for src in scripts), scripts
    for src in scripts:  # the self-hosted Swagger UI bundle and the start-up script all load
        response = client.get(src.replace("&amp;", "&"))
        assert response.status_code == 200, src
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body, src
    for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html):
        assert client.get(href).status_code == 200, href


def test_admin_pages_run_no_inline_script(admin_client):
    for url in ("/admin/", "/admin/login/", "/admin/consent/purpose/", "/admin/auth/user/add/"):
        response = admin_client.get(url)
        assert response.status_code in (200, 302), url
        assert not INLINE_SCRIPT.search(response.content.decode()), (
            url,
            INLINE_SCRIPT.search(response.content.decode()),
        )


def test_session_and_csrf_cookies_are_http_only_where_they_can_be_and_same_site():
    from django.conf import settings

    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_SAMESITE == "Lax"
    client = Client()
    response = client.get("/admin/login/")
    cookie = response.cookies["csrftoken"]
    assert cookie["samesite"] == "Lax"
