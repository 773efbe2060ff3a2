"""What the fuzzer's requests find in the database: a service holding every scope and purpose,
a published notice, a subject with decisions, a privacy request and a segment.

KNOWN holds their ids while a test runs; tests/fuzz/test_schemathesis.py aims generated values at
them, because random strings almost never name a real site key, subject or case.
"""

from __future__ import annotations

from typing import Any

from audit.services import Actor
from consent.clients import service_register, service_site_key_issue
from consent.decisions import Context, consent_submit, notice_publish
from consent.models import Scope
from profiles.identity.subjects import subject_find
from profiles.models import Segment
from profiles.requests.domain import Channel
from profiles.requests.services import request_submit

SITE_KEY = "pk_fuzz"
# the page the fuzzer's browser calls come from: writes through /collect/ need an allowed origin
ORIGIN = "https://fuzz.example"
USER_ID = "fuzz-user"
KNOWN: dict[str, Any] = {}


def world_build(purposes: list[str]) -> str:
    """Set the world up, fill KNOWN, and return the service key."""
    notice_publish(title="Notice", text="How we use data", purposes=purposes, actor=Actor.system())
    issued = service_register(name="fuzzer", purposes=purposes, scopes=sorted(Scope.values))
    service_site_key_issue(service=issued.service, site_key=SITE_KEY)
    issued.service.allowed_origins = [ORIGIN]
    issued.service.save(update_fields=["allowed_origins"])
    actor = Actor("service", str(issued.service.id))
    consented = [p for p in purposes if p != "essential"]
    recorded = consent_submit(kind="user_id", value=USER_ID, decisions=dict.fromkeys(consented, True),
                              context=Context(), actor=actor)  # fmt: skip
    case = request_submit(kind="access", identifier_kind="user_id", identifier_value=USER_ID,
                          channel=Channel.SERVICE, actor=actor, vouched=True)  # fmt: skip
    segment = Segment.objects.create(key="fuzz", name="Fuzz", condition={"event": {"name": "Fuzzed"}})
    segment.purposes.set(["analytics"])
    subject = subject_find(kind="user_id", value=USER_ID)
    assert subject is not None
    KNOWN.update(
        site=SITE_KEY,
        purpose="analytics",
        purposes=consented,
        user_id=USER_ID,
        subject_id=str(subject.id),
        decision_id=str(recorded[0].event_id),
        event_id=str(recorded[0].event_id),
        request_id=str(case.id),
        key=segment.key,
    )
    return issued.secret
