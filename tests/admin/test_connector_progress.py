"""The officers' view of a case's other systems: per-system progress, a manual task completed by
hand with a note, an escalated system retried; viewers see progress but neither act nor read
the person's identifiers."""

from __future__ import annotations

import pytest
from django.test import Client

from profiles.requests.models import Connector, ConnectorTask
from profiles.requests.workflow import StepRetry, request_run
from tests.connector_support import file_by_officer
from tests.factories import EMAIL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def waiting_case(shop, zoe, hub_settings):
    """An erasure waiting for two systems: a paper archive (an officer's task) and an HTTP system
    that has gone to officers."""
    Connector.objects.create(
        key="paper", name="Paper archive", kind="manual", identity_kind="email", actions=["erasure"],
        instructions="Find the folder under the customer's email and shred it.",
    )  # fmt: skip
    Connector.objects.create(
        key="billing", name="Billing system", kind="http", identity_kind="email", actions=["erasure"],
        url="https://billing.example/privacy", secret_env="HUB_CONNECTOR_BILLING_SECRET",
    )  # fmt: skip
    case = file_by_officer("erasure")
    with pytest.raises(StepRetry):
        request_run(request_id=case.id)
    ConnectorTask.objects.filter(request=case, connector__key="billing").update(
        status="escalated", reason="no answer (after 5 tries)", attempts=5
    )
    return case


def _page(case, key: str) -> str:
    task = ConnectorTask.objects.get(request=case, connector__key=key)
    return f"/admin/privacy_requests/privacyrequest/{case.id}/systems/{task.id}/"


def test_the_case_page_shows_each_systems_progress(waiting_case, login, client: Client):
    login("viewer")
    page = client.get(f"/admin/privacy_requests/privacyrequest/{waiting_case.id}/change/").content.decode()
    assert "other systems (connectors)" in page.lower()
    assert "Paper archive" in page and "Waiting for the system" in page
    assert (
        "Billing system" in page and "Escalated to officers" in page and "no answer (after 5 tries)" in page
    )
    assert _page(waiting_case, "paper") in page


def test_a_viewer_sees_the_task_but_neither_the_identifiers_nor_the_forms(
    waiting_case, login, client: Client
):
    login("viewer")
    response = client.get(_page(waiting_case, "paper"))
    page = response.content.decode()
    assert response.status_code == 200 and "shred it" in page
    assert EMAIL not in page and "Complete by hand" not in page
    refused = client.post(_page(waiting_case, "paper"), {"complete": "1", "outcome": "done", "note": "x"})
    assert refused.status_code == 403
    assert ConnectorTask.objects.get(request=waiting_case, connector__key="paper").status == "waiting"


def test_an_officer_completes_the_manual_task_with_a_note_and_the_case_goes_on(
    waiting_case, login, client: Client
):
    officer = login("officer")
    response = client.get(_page(waiting_case, "paper"))
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert EMAIL in page and "Complete by hand" in page  # what to search the archive by
    # a note is required
    client.post(_page(waiting_case, "paper"), {"complete": "1", "outcome": "done", "note": ""})
    assert ConnectorTask.objects.get(request=waiting_case, connector__key="paper").status == "waiting"
    done = client.post(
        _page(waiting_case, "paper"), {"complete": "1", "outcome": "done", "note": "Folder shredded on site"}
    )
    assert done.status_code == 302
    task = ConnectorTask.objects.get(request=waiting_case, connector__key="paper")
    assert (task.status, task.note, task.completed_by_id) == ("done", "Folder shredded on site", officer.pk)


def test_an_officer_retries_an_escalated_system_from_the_start(waiting_case, login, client: Client):
    login("officer")
    page = client.get(_page(waiting_case, "billing")).content.decode()
    assert "Retry this system from the start" in page
    assert client.post(_page(waiting_case, "billing"), {"retry": "1"}).status_code == 302
    task = ConnectorTask.objects.get(request=waiting_case, connector__key="billing")
    assert (task.status, task.attempts, task.reason) == ("pending", 0, "")
    # a second retry is refused (it is no longer escalated), shown as a message, nothing changes
    client.post(_page(waiting_case, "billing"), {"retry": "1"})
    assert ConnectorTask.objects.get(pk=task.pk).status == "pending"
