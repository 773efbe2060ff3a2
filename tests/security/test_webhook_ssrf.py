"""Path 8 (invariant 29): webhooks cannot make the hub a port scanner of its own network.

A webhook URL is refused at registration (service_register, the admin form, `create_service`) when
its host is, or resolves to, a loopback, private, link-local, metadata or otherwise non-public
address; delivery checks again, connects to the address it checked (no second DNS lookup), ignores
proxy variables, follows no redirect, and stores an error that does not map the network.
Only networks an operator lists in HUB_OUTBOUND_ALLOWED_NETWORKS are let through.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from consent import webhooks
from consent.models import DeliveryStatus, Service, WebhookDelivery
from consent.webhooks import webhook_deliver, webhooks_enqueue
from hub.errors import DomainError
from tests.factories import service_with_key
from tests.receiver import running_receiver
from tests.security.test_deploy_check import PRODUCTION_ENV

pytestmark = pytest.mark.django_db

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://0.0.0.0:5432/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://2130706433/hook",  # 127.0.0.1 written as one number
    "http://0x7f000001/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://localhost:6379/",
    "http://internal.test/hook",  # a name that resolves to a private address
    "http://mixed.test/hook",  # a name with one public and one private address
    "ftp://hooks.test/hook",
    "http://user:pw@hooks.test/hook",  # credentials in the URL
    "http:///hook",
]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The outside world's DNS: names under .test resolve to what the test says, others as usual."""
    answers: dict[str, list[str]] = {
        "hooks.test": ["93.184.216.34"],
        "internal.test": ["10.1.2.3"],
        "mixed.test": ["93.184.216.34", "192.168.0.7"],
    }
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.endswith(".test"):
            answers.setdefault("lookups", []).append(name)
            if name not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, int(port or 0)),
                )
                for address in answers[name]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def loopback_allowed(settings: Any) -> Callable[[bool], None]:
    """The operator's explicit allow-list: loopback only, switched on and off by the test."""

    def allow(on: bool = True) -> None:
        settings.HUB_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"] if on else []

    return allow


@pytest.fixture
def local_receiver() -> Iterator[Any]:
    with running_receiver() as state:
        yield state


def _register(url: str, name: str = "crm") -> Service:
    return service_with_key(
        name=name, purposes=["analytics"], scopes=["events:write"], webhook_url=url
    ).service


def _withdrawal() -> WebhookDelivery:
    [delivery] = webhooks_enqueue(
        topic="consent.withdrawn", subject_id=uuid.uuid4(), purpose="analytics", occurred_at=timezone.now()
    )
    return delivery


# --- registration ------------------------------------------------------------------------------
def test_allow_list_is_empty_and_plain_http_allowed_only_outside_production():
    assert django_settings.HUB_OUTBOUND_ALLOWED_NETWORKS == []
    from hub.settings import base, dev, test

    assert base.HUB_OUTBOUND_ALLOWED_NETWORKS == dev.HUB_OUTBOUND_ALLOWED_NETWORKS == []
    assert test.HUB_OUTBOUND_ALLOWED_NETWORKS == []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUB_"))}
    env.update(PRODUCTION_ENV)
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.HUB_OUTBOUND_ALLOWED_NETWORKS, settings.HUB_OUTBOUND_HTTPS_ONLY)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[] True", result.stderr


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_service_register_refuses_non_public_webhook_urls(purposes, dns, url):
    with pytest.raises(DomainError) as refused:
        _register(url)
    assert refused.value.code == "service.invalid_webhook_url"
    assert refused.value.status == 400 and refused.value.field == "webhook_url"
    assert not Service.objects.exists()


def test_a_public_webhook_url_is_accepted_and_https_is_required_under_production_settings(
    purposes, dns, settings
):
    assert _register("http://hooks.test/hook").webhook_url == "http://hooks.test/hook"
    settings.HUB_OUTBOUND_HTTPS_ONLY = True
    with pytest.raises(DomainError) as refused:
        _register("http://hooks.test/other", name="crm2")
    assert refused.value.code == "service.invalid_webhook_url"
    assert _register("https://hooks.test/hook", name="crm3").webhook_url == "https://hooks.test/hook"


def test_an_unresolvable_name_is_refused(purposes, dns):
    with pytest.raises(DomainError) as refused:
        _register("https://nowhere.test/hook")
    assert refused.value.code == "service.invalid_webhook_url"


def test_the_admin_form_refuses_a_metadata_address(purposes, client):
    officer = User.objects.create_superuser("root", password="pw-root-123")
    client.force_login(officer)
    response = client.post(
        "/admin/consent/service/add/",
        {
            "name": "probe",
            "purposes": ["analytics"],
            "scopes": ["events:write"],
            "webhook_url": "http://169.254.169.254/latest/meta-data/",
            "active": "on",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error on the field
    assert "webhook_url" in response.context["adminform"].form.errors
    assert not Service.objects.exists()


def test_the_admin_form_refuses_changing_an_existing_service_to_loopback(purposes, client, dns):
    service = _register("https://hooks.test/hook")
    client.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    response = client.post(
        f"/admin/consent/service/{service.pk}/change/",
        {
            "name": "crm",
            "purposes": ["analytics"],
            "scopes": ["events:write"],
            "webhook_url": "http://[::1]:8080/hook",
            "active": "on",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "webhook_url" in response.context["adminform"].form.errors
    service.refresh_from_db()
    assert service.webhook_url == "https://hooks.test/hook"


def test_create_service_command_refuses_a_loopback_webhook(purposes):
    with pytest.raises(CommandError, match="service.invalid_webhook_url"):
        call_command(
            "create_service", "--name", "probe", "--scope", "events:write",
            "--webhook-url", "http://127.0.0.1:6379/", stdout=io.StringIO(),
        )  # fmt: skip
    assert not Service.objects.exists()


# --- delivery ----------------------------------------------------------------------------------
def test_delivery_refuses_a_loopback_url_registered_while_it_was_allowed(
    purposes, dns, loopback_allowed, local_receiver
):
    # given a service registered while the operator allowed loopback, under a name and a literal
    loopback_allowed(True)
    dns["receiver.test"] = ["127.0.0.1"]
    _register(f"http://receiver.test:{local_receiver.port}/hook")
    _register(local_receiver.url, name="literal")
    # when the allow-list is emptied again and the deliveries run
    loopback_allowed(False)
    deliveries = [_withdrawal_for(service) for service in Service.objects.order_by("name")]
    for delivery in deliveries:
        assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.PENDING
    # then nothing reached the receiver, and the stored error says nothing about the network
    assert local_receiver.requests == []
    assert {WebhookDelivery.objects.get(pk=d.pk).last_error for d in deliveries} == {"delivery failed"}


def _withdrawal_for(service: Service) -> WebhookDelivery:
    Service.objects.exclude(pk=service.pk).update(active=False)
    delivery = _withdrawal()
    Service.objects.update(active=True)
    return delivery


def test_dns_rebinding_after_registration_is_refused_at_delivery(purposes, dns, local_receiver):
    # given a name that was public when the service registered
    dns["rebind.test"] = ["93.184.216.34"]
    _register(f"http://rebind.test:{local_receiver.port}/hook")
    # when it later resolves to loopback
    dns["rebind.test"] = ["127.0.0.1"]
    delivery = _withdrawal()
    # then delivery refuses it
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.PENDING
    assert local_receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.last_error == "delivery failed"


def test_delivery_resolves_once_connects_to_the_checked_address_and_sends_the_original_host(
    purposes, dns, loopback_allowed, local_receiver
):
    loopback_allowed(True)
    dns["receiver.test"] = ["127.0.0.1"]
    _register(f"http://receiver.test:{local_receiver.port}/hook")
    delivery = _withdrawal()
    dns["lookups"] = []
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    # one lookup (the check); the connection went to the address it returned, named as registered
    assert dns["lookups"] == ["receiver.test"]
    [request] = local_receiver.requests
    assert request["headers"]["Host"] == f"receiver.test:{local_receiver.port}"


def test_delivery_ignores_proxy_variables(purposes, loopback_allowed, local_receiver, monkeypatch):
    loopback_allowed(True)
    _register(local_receiver.url)
    with running_receiver() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        delivery = _withdrawal()
        assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
        assert proxy.requests == []
    assert len(local_receiver.requests) == 1


@pytest.mark.parametrize(
    ("mode", "stored"),
    [
        ("refused", "delivery failed"),
        ("hang", "delivery failed"),  # a timeout reads like a refusal: no map of open ports
        ("error", "delivery failed: HTTP 5xx"),
        ("redirect", "delivery failed: HTTP 3xx"),  # not followed
        ("not_found", "delivery failed: HTTP 4xx"),
    ],
)
def test_the_stored_error_is_generic(purposes, loopback_allowed, local_receiver, monkeypatch, mode, stored):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
    loopback_allowed(True)
    if mode == "refused":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hook"  # nothing listens there any more
    else:
        local_receiver.mode = mode
        url = local_receiver.url
    _register(url)
    delivery = _withdrawal()
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.PENDING
    delivery.refresh_from_db()
    assert delivery.last_error == stored
