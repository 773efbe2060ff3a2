"""Issue 14: contact identifiers cross no boundary.

- An address linked from an identify is stored only as a keyed hash and inside encrypted payloads:
  no table row, log line, ledger metadata or task argument holds it in clear.
- `POST /api/v1/identity/links` speaks only for a user the calling service identified itself; any
  other user_id is the same 404 as nobody.
- A service cannot pull another person's address — and with it their profile — into a user it reads.
"""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from audit.pii_scan import pii_scan
from consent.clients import service_register
from profiles.collection import services
from profiles.identity.models import SubjectMerge
from profiles.identity.subjects import subject_find
from tests.factories import api_client, identify_sent, person_consenting, shop_services
from tests.profiles.projection_support import drain
from tests.tasks_sent import tasks_sent

ADDRESS = "quintessa.marker@example.org"
PHONE = "+447700900461"
VISIBLE = "Quinta Visible-Name"


def _identify(client: APIClient, user_id: str, message_id: str, traits: dict) -> str:
    return identify_sent(client, user_id, message_id, traits=traits)["status"]


@pytest.mark.django_db(transaction=True)
def test_a_linked_address_is_nowhere_in_clear(purposes, caplog, monkeypatch):
    sent = tasks_sent(monkeypatch)  # every task enqueued, as the broker would see it
    monkeypatch.setattr(services, "_last_nudge", 0.0)  # an earlier test's nudge must not hold this one back
    caplog.set_level(logging.DEBUG)
    shop = shop_services()
    person_consenting("quin-1", "personalization")
    # when the shop identifies her with an email and a phone, and links another address explicitly
    assert (
        _identify(shop.events, "quin-1", "q-1", {"email": ADDRESS, "phone": PHONE, "name": VISIBLE})
        == "accepted"
    )
    linked = shop.events.post("/api/v1/identity/links", {"user_id": "quin-1", "kind": "email",
                                                         "value": "Second." + ADDRESS}, format="json")  # fmt: skip
    assert linked.status_code == 200
    drain()
    # then they lead to her...
    subject = subject_find(kind="user_id", value="quin-1")
    assert subject_find(kind="email", value=ADDRESS) == subject == subject_find(kind="phone", value=PHONE)
    # ...but no table (ledger metadata, identifiers, profiles, sessions, broker) holds them in clear
    markers = [ADDRESS, "second." + ADDRESS, PHONE, PHONE.removeprefix("+")]
    report = pii_scan(markers=markers)
    assert not report.findings, report.findings
    assert sent and not any(marker in caplog.text or marker in str(sent) for marker in markers)
    # the control: the scan does see what is held in clear (the name trait in the profile)
    assert pii_scan(markers=[VISIBLE]).findings


@pytest.mark.django_db
def test_the_identity_api_speaks_only_for_users_the_service_identified(purposes):
    shop = shop_services()
    person_consenting("quin-2", "personalization")
    assert _identify(shop.events, "quin-2", "q-2", {"name": "Q"}) == "accepted"  # the shop knows her
    other = service_register(name="other", purposes=["personalization"], scopes=["events:write"])
    stranger = api_client(other.secret)
    known = stranger.post("/api/v1/identity/links", {"user_id": "quin-2", "kind": "email", "value": ADDRESS},
                          format="json")  # fmt: skip
    unknown = stranger.post("/api/v1/identity/links", {"user_id": "nobody-x", "kind": "email", "value": ADDRESS},
                            format="json")  # fmt: skip
    assert known.status_code == unknown.status_code == 404
    assert known.json() == unknown.json() and known.json()["error"]["code"] == "identity.unknown_subject"
    assert subject_find(kind="email", value=ADDRESS) is None
    # reading is not knowing: a profiles:read key gets 403, not a way in
    reader = api_client(
        service_register(name="reader", purposes=["personalization"], scopes=["profiles:read"]).secret
    )
    assert reader.post("/api/v1/identity/links", {"user_id": "quin-2", "kind": "email", "value": ADDRESS},
                       format="json").status_code == 403  # fmt: skip


@pytest.mark.django_db(transaction=True)  # the projector reads committed events only
def test_claiming_someone_elses_address_does_not_bring_their_profile_along(purposes):
    # given: the shop knows Quin by user id and email, with a personalization trait
    shop = shop_services()
    person_consenting("quin-3", "personalization")
    assert _identify(shop.events, "quin-3", "q-3", {"email": ADDRESS, "name": "Quin Private"}) == "accepted"
    drain()
    # when another service (registered for personalization too) claims her address for its user
    issued = service_register(
        name="mallory", purposes=["personalization"], scopes=["events:write", "profiles:read"]
    )
    mallory = api_client(issued.secret)
    person_consenting("mallory-3", "personalization")
    assert _identify(mallory, "mallory-3", "m-3", {"email": ADDRESS}) == "accepted"
    mallory.post(
        "/api/v1/identity/links", {"user_id": "mallory-3", "kind": "email", "value": ADDRESS}, format="json"
    )
    drain()
    # then nothing merged, the address is still hers, and mallory's read of its own user shows nothing of her
    assert not SubjectMerge.objects.exists()
    assert subject_find(kind="email", value=ADDRESS) == subject_find(kind="user_id", value="quin-3")
    profile = mallory.get("/api/v1/profiles", {"user_id": "mallory-3"})
    assert profile.status_code == 200 and "Quin Private" not in profile.content.decode()
