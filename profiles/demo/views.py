"""The demo shop (`/demo/`): a fake shop wired through hub.js, so a new user sees banner → events →
portal → admin. Its service, customer and notice are seeded by `manage.py seed_demo`."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from consent.models import Service
from profiles.browser.apis import user_id_signature

DEMO_SERVICE = "demo-shop"
DEMO_CUSTOMER, DEMO_CUSTOMER_EMAIL = "demo-customer", "demo@example.org"
DEMO_PRODUCTS = [
    {"sku": "TEA-01", "name": "Green tea, 100 g", "category": "tea", "price": "8.50"},
    {"sku": "MUG-02", "name": "Stoneware mug", "category": "kitchen", "price": "14.00"},
    {"sku": "BAG-03", "name": "Canvas tote bag", "category": "accessories", "price": "19.00"},
    {"sku": "BOOK-04", "name": "Privacy by Design (paperback)", "category": "books", "price": "24.00"},
]


@require_GET
def demo_shop(request: HttpRequest) -> HttpResponse:
    """A fake shop wired through hub.js, so a new user sees banner → events → portal → admin."""
    service = Service.objects.filter(name=DEMO_SERVICE, active=True).exclude(site_key="").first()
    # the shop's "backend" signs the demo customer's user id, as a real site's would after sign-in
    signature = user_id_signature(service, DEMO_CUSTOMER) if service and service.webhook_secret else None
    # the demo's one inline tag (held by hub.js until "marketing" is granted) runs under a nonce of
    # this response only: the hub's policy forbids inline scripts everywhere else
    nonce = secrets.token_urlsafe(18)
    response = render(
        request,
        "demo/shop.html",
        {
            "site_key": service.site_key if service else None, "products": DEMO_PRODUCTS,
            "customer": DEMO_CUSTOMER, "customer_email": DEMO_CUSTOMER_EMAIL, "customer_signature": signature,
            "nonce": nonce,
        },
    )  # fmt: skip
    response["Content-Security-Policy"] = _script_nonce(settings.HUB_CONTENT_SECURITY_POLICY, nonce)
    return response


@require_GET
@xframe_options_sameorigin
def demo_embed(request: HttpRequest) -> HttpResponse:
    """A stand-in for a third-party embed (a video, a map): the demo shop frames it only with consent."""
    response = render(request, "demo/embed.html")
    response["Content-Security-Policy"] = settings.HUB_CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    return response


def _script_nonce(policy: str, nonce: str) -> str:
    """The policy with one nonce added to script-src (nothing else loosened)."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    return "; ".join(f"{d} 'nonce-{nonce}'" if d.split()[0] == "script-src" else d for d in directives)
