"""Rate limits on sign-in and request forms: per client address and per identifier, in PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from hub.ratelimit.models import Attempt
from hub.ratelimit.services import rate_key, rate_limit_allow
from profiles.portal.models import SignInLink
from profiles.requests.models import PrivacyRequest
from tests.factories import EMAIL
from tests.tasks_sent import tasks_sent

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    settings.HUB_PORTAL_RATE_LIMIT = 2
    settings.HUB_PORTAL_RATE_WINDOW_SECONDS = 600
    return 2


def _sign_in(email: str, ip: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=ip).post("/portal/sign-in", {"email": email})


def test_too_many_sign_ins_for_one_address_get_a_429_and_nothing_is_sent(
    zoe, limit, django_capture_on_commit_callbacks, monkeypatch
):

    queued = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            _sign_in(EMAIL, ip=f"198.51.100.{n}") for n in range(limit + 1)
        ]  # from different addresses
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert b"Too many attempts" in answers[-1].content and answers[-1]["Retry-After"] == "600"
    assert SignInLink.objects.count() == len(queued) == limit and not mail.outbox


def test_one_client_address_is_limited_across_email_addresses(zoe, limit):
    answers = [_sign_in(f"someone{n}@example.org") for n in range(limit)] + [_sign_in(EMAIL)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert not SignInLink.objects.exists()
    assert _sign_in(EMAIL, ip="192.0.2.1").status_code == 200  # another address is not held back


def test_counts_are_keyed_hashes_and_the_window_slides(zoe, limit):
    _sign_in(EMAIL)
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in Attempt.objects.values_list("key", flat=True))
    assert EMAIL not in str(list(Attempt.objects.values())) and "203.0.113.7" not in str(
        list(Attempt.objects.values())
    )
    key = rate_key(scope="test", kind="ip", value="192.0.2.9")
    start = timezone.now()
    assert rate_limit_allow(keys=[key], now=start) and rate_limit_allow(keys=[key], now=start)
    assert not rate_limit_allow(keys=[key], now=start + timedelta(seconds=599))
    assert rate_limit_allow(keys=[key], now=start + timedelta(seconds=601))  # the first two fell out


def test_request_forms_are_limited_too_and_nothing_is_filed(zoe_client, limit):
    answers = [zoe_client.post("/portal/requests", {"type": "access"}) for _ in range(limit + 1)]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert PrivacyRequest.objects.count() == limit
