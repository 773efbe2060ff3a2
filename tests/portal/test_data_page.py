"""My data: categories, purposes, since when, real recipients, retention, and the profile."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import (
    NAME,
    OTHER_EMAIL,
    OTHER_USER_ID,
    PLAN,
    USER_ID,
    person,
    person_with_history,
    signed_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_data_page_lists_what_is_held_why_since_when_and_the_real_recipients(shop):
    zoe = person_with_history(shop)
    html = signed_in(Client(), zoe, USER_ID).get("/portal/data").content.decode()
    recipients = html[html.index('id="recipients-title"') : html.index('id="sources-title"')]
    # the service that read the profile (a profile.disclosed event), for the purpose it read it for
    assert (
        "recommender" in recipients
        and "Personalization" in recipients
        and "Read your data once" in recipients
    )
    categories = html[html.index('id="categories-title"') : html.index('id="purposes-title"')]
    assert "Name" in categories and "Analytics" in categories and "Personalization" in categories
    purposes = html[html.index('id="purposes-title"') : html.index('id="recipients-title"')]
    assert "395 days" in purposes and "Consent (Art. 6(1)(a))" in purposes
    profile = html[html.index('id="profile-title"') :]
    assert NAME in profile and PLAN in profile and "SKU" not in profile
    assert "Your activity" in profile and "Product Viewed: 2" in profile


def test_nobody_else_sees_it(shop):
    person_with_history(shop)
    bruno = person(OTHER_USER_ID, OTHER_EMAIL)
    html = signed_in(Client(), bruno, OTHER_USER_ID).get("/portal/data").content.decode()
    assert "recommender" not in html and NAME not in html and PLAN not in html
    assert "Nobody has received your data." in html
