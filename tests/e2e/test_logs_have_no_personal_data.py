"""Invariant 6 for logs: a real stack's log lines carry ids, never the person.

gunicorn and a Celery worker run with JSON logs, their output captured to files. Over real HTTP a
banner records consents, the shop sends events and files an access request, the person confirms
it through the emailed link, and the worker builds her export; a few calls fail on purpose with
her identifiers in the URL. Then every captured line must be JSON with a request id field, and
none may hold her email, user id, anonymous id, a trait value or her IP address, in any form
`audit.pii_scan` knows (plain, lowercase, JSON-escaped, URL-encoded, hex, base64).
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from audit.pii_scan import forms_in_text, marker_needles
from hub.logging_context import REQUEST_ID_HEADER
from tests.e2e.conftest import http, verification_link, wait_until
from tests.factories import CONSENT_PURPOSES, minimization_policy, notice_published, service_with_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "Kestrel.LogMarker@Example.net"
USER_ID = "kestrel-user-5521"
ANONYMOUS_ID = "anon-kestrel-7f3a9c"
TRAIT = "Trait-Kestrel-Quill"
IP = "203.0.113.77"
MARKERS = (EMAIL, USER_ID, ANONYMOUS_ID, TRAIT, IP)
REQUEST_ID = "e2e-logs.Kestrel_0001"
FILING_REQUEST_ID = "e2e-logs.access-0002"


def _lines(tmp_path: Path) -> dict[str, list[str]]:
    files = sorted(tmp_path.glob("web-*.log")) + sorted(tmp_path.glob("worker-*.log"))
    return {path.name: path.read_text(errors="replace").splitlines() for path in files}


def _confirm(base: str, path: str) -> int:
    """What the person's browser does with the emailed link: load the page, then post its form."""
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as page:  # noqa: S310 - loopback only
        cookie = page.headers["Set-Cookie"]
    token = re.search(r"csrftoken=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    form = urllib.request.Request(  # noqa: S310 - loopback only
        f"{base}{path}",
        data=urlencode({"csrfmiddlewaretoken": token}).encode(),
        headers={"Cookie": f"csrftoken={token}", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(form, timeout=10) as answer:  # noqa: S310 - loopback only
        return int(answer.status)


def test_no_log_line_of_a_real_run_names_the_person(
    purposes, receiver, mailbox, settings, tmp_path, web_process, celery_worker_process
):
    # given the shop's services, a notice, and a web process and a worker writing JSON logs to files
    notice_published(CONSENT_PURPOSES)
    minimization_policy("personalization", "identify", ("traits.name", "user.name"))
    banner = service_with_key(name="banner", purposes=CONSENT_PURPOSES, scopes=["consents:write"]).secret
    shop = service_with_key(
        name="shop", purposes=["analytics", "personalization", "essential"],
        scopes=["events:write", "requests:write"],
    ).secret  # fmt: skip
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    env = {
        "HUB_LOG_FORMAT": "json", "EMAIL_URL": mailbox.url, "HUB_EXPORT_ROOT": str(settings.HUB_EXPORT_ROOT),
        "HUB_PUBLIC_URL": "http://hub.test", "GUNICORN_CMD_ARGS": "-c python:hub.gunicorn_conf",
    }  # fmt: skip
    base, _ = web_process(**env)
    celery_worker_process(**env)
    as_banner = {"Authorization": f"Bearer {banner}", "X-Forwarded-For": IP}
    as_shop = {"Authorization": f"Bearer {shop}", "X-Forwarded-For": IP}

    # when consents are recorded and read back for her user id and her anonymous id
    for identifier in ({"user_id": USER_ID}, {"anonymous_id": ANONYMOUS_ID}):
        decisions = {"analytics": "granted", "personalization": "granted"}
        status, _, body = http(
            "POST", f"{base}/api/v1/consents", {**identifier, "decisions": decisions}, as_banner
        )
        assert status == 201, body
    query = urlencode({"user_id": USER_ID, "purpose": "analytics"})
    status, _, body = http("GET", f"{base}/api/v1/consents/decision?{query}", headers=as_banner)
    assert (status, body) == (200, {"allowed": True, "reason": "given"})
    # ...the shop sends events carrying her email, a trait and her IP address
    batch = [
        {"message_id": "log-i1", "type": "identify", "user_id": USER_ID, "anonymous_id": ANONYMOUS_ID,
         "purpose": "personalization", "traits": {"name": TRAIT, "email": EMAIL}, "context": {"ip": IP}},
        {"message_id": "log-t1", "type": "track", "event": "Product Viewed", "user_id": USER_ID,
         "purpose": "analytics", "properties": {"sku": "SKU-1", "email": EMAIL}, "context": {"ip": IP}},
    ]  # fmt: skip
    status, _, body = http("POST", f"{base}/api/v1/events", {"batch": batch}, as_shop)
    assert status == 200 and [r["status"] for r in body["results"]] == ["accepted", "accepted"], body
    # ...calls fail with her identifiers in the URL (a client's mistake the logs must not repeat);
    # one of them carries the caller's request id
    bad_query = urlencode({"user_id": USER_ID, "purpose": "no-such-purpose", "email": EMAIL})
    status, headers, _ = http(
        "GET",
        f"{base}/api/v1/consents/decision?{bad_query}",
        headers={**as_banner, REQUEST_ID_HEADER: REQUEST_ID},
    )
    assert status == 400 and headers[REQUEST_ID_HEADER] == REQUEST_ID
    assert http("GET", f"{base}/privacy-requests/verify/{quote(EMAIL)}")[0] == 404
    assert http("GET", f"{base}/api/v1/profiles/{quote(USER_ID)}", headers=as_shop)[0] in (403, 404)
    # ...a forged request id is not taken: a fresh one comes back
    forged = http(
        "GET", f"{base}/api/v1/consents/decision?{query}", headers={**as_banner, REQUEST_ID_HEADER: EMAIL}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", forged[1][REQUEST_ID_HEADER])
    # ...and she asks for her data by email (user id as the second data point), confirms through the
    # link the worker mails her, and the worker builds her export
    access = {"type": "access", "email": EMAIL, "second_identifier": {"kind": "user_id", "value": USER_ID}}
    status, _, case = http(
        "POST", f"{base}/api/v1/privacy-requests", access, {**as_shop, REQUEST_ID_HEADER: FILING_REQUEST_ID}
    )
    assert status == 201, case
    assert _confirm(base, verification_link(mailbox, EMAIL, case["id"])) == 200
    from profiles.requests.models import PrivacyRequest

    wait_until(lambda: PrivacyRequest.objects.get(pk=case["id"]).status == "fulfilled", timeout=90)
    wait_until(lambda: any(f"Reference: {case['id']}" in mailbox.body(m) for m in mailbox.to(EMAIL)))

    # then every captured line is a JSON log record with the ids' fields...
    captured = _lines(tmp_path)
    assert {"web-0.log", "worker-0.log"} <= captured.keys()
    records = {}
    for name, lines in captured.items():
        assert lines, f"{name} is empty"
        for line in lines:
            record = json.loads(line)  # a line that is not JSON fails here
            assert {"timestamp", "level", "logger", "message", "request_id", "task_id"} <= record.keys(), line
            records.setdefault(name, []).append(record)
    # ...the caller's request id is on the web process's line about that call, and tasks log their ids
    assert any(r["request_id"] == REQUEST_ID for r in records["web-0.log"]), captured["web-0.log"]
    assert any(r["task_id"] for r in records["worker-0.log"])
    # ...and the request that filed the case lends its id to the task it enqueued (a message header)
    assert any(
        r["request_id"] == FILING_REQUEST_ID and r["task_id"] and "verification link" in r["message"]
        for r in records["worker-0.log"]
    ), captured["worker-0.log"]
    # ...and no line holds any of her identifiers, in any form
    needles = [needle for marker in MARKERS for needle in marker_needles(marker)]
    leaks = [
        (name, forms_in_text(line, needles), line)
        for name, lines in captured.items()
        for line in lines
        if forms_in_text(line, needles)
    ]
    assert not leaks, leaks
