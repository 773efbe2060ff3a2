"""In a real Chromium: a person signed in to the portal sees the cluster model that grouped her, what
her group means, and objects to that profiling (Art. 21): she is out of it at once."""

from __future__ import annotations

import pytest

from profiles.models import SegmentExclusion, SegmentMembership
from profiles.requests.models import PrivacyRequest
from tests.browser.conftest import accessibility_problems, screenshot
from tests.browser.test_portal import _sign_in, hub  # noqa: F401  (the live hub and worker fixture)
from tests.factories import USER_ID
from tests.profiles.cluster_support import KEY, MEANINGS, trained_model

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_she_objects_to_a_cluster_model_from_the_data_page(hub, page, mailbox):  # noqa: F811
    trained = trained_model(first_user_id=USER_ID)  # her subject (zoe) is the first "loyal" shopper
    zoe = hub["zoe"].id
    assert trained.people["loyal"][0] == zoe
    assert SegmentMembership.objects.get(segment_id=KEY, subject_id=zoe).label == 0
    _sign_in(page, hub, mailbox)
    page.goto(f"{hub['url']}/portal/data")
    group = page.locator(f"#cluster-{KEY}")
    group.wait_for()
    assert "Shopper groups" in group.inner_text() and MEANINGS[0] in group.inner_text()
    assert accessibility_problems(page) == []
    screenshot(page, "portal-clusters")
    group.locator("button:has-text('Object to this profiling')").click()
    page.locator("text=we no longer group you with this model").wait_for()
    assert page.locator(f"#cluster-{KEY}").count() == 0
    assert not SegmentMembership.objects.filter(segment_id=KEY, subject_id=zoe).exists()
    case = PrivacyRequest.objects.get(subject_id=zoe, type="objection")
    assert SegmentExclusion.objects.get(segment_id=KEY, subject_id=zoe).request_id == case.id
