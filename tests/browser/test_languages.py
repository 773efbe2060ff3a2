"""Languages in a real Chromium: a German browser gets the German portal and can switch to French
without JavaScript; a German page gets a German banner around the officer's English notice (and the
German notice once one is published); a German person's sign-in e-mail, sent by the real worker, is
German.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command

from consent.models import Notice, Service
from tests.browser.conftest import accessibility_problems, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GERMAN_PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Testladen</title>
<script async src="/static/hub.js" data-site="{site_key}"></script></head>
<body><main><h1>Willkommen im Testladen</h1></main></body></html>"""


@pytest.fixture
def german(browser: Any) -> Any:
    """A browser whose person reads German (Accept-Language: de-DE, navigator.language "de-DE")."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="de-DE")
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def seeded(purposes: list[str], live_server: Any) -> str:
    """The demo's English notice and site key, and the catalog's German and French purpose names
    (a transactional test flushed the migrations' rows)."""
    call_command("seed_demo", verbosity=0)
    import_module("consent.migrations.0011_purpose_translations").install(django_apps, None)
    return str(live_server.url)


def test_the_portal_speaks_german_and_switches_to_french_without_javascript(seeded: str, german: Any) -> None:
    page = german.new_page()
    page.goto(f"{seeded}/portal/sign-in")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("h1").inner_text() == "Melden Sie sich in Ihrem Datenschutzportal an"
    assert page.get_by_role("button", name="Anmeldelink per E-Mail senden").is_visible()
    screenshot(page, "portal-de")
    assert accessibility_problems(page) == []
    # the switcher: a labelled select and a button, posted with its CSRF token (the page runs no script)
    switcher = page.get_by_label("Sprache")
    assert switcher.input_value() == "de"
    switcher.select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Sprache wechseln").click()
    assert page.url == f"{seeded}/portal/sign-in"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").inner_text() == "Connectez-vous à votre portail de confidentialité"
    assert page.get_by_label("Langue").input_value() == "fr"
    assert accessibility_problems(page) == []
    # the choice outlives the page: the browser still says German, the portal stays French
    page.goto(f"{seeded}/portal/sign-in")
    assert page.locator("html").get_attribute("lang") == "fr"


def test_a_german_page_gets_a_german_banner_around_an_english_notice(seeded: str, german: Any) -> None:
    Notice.objects.exclude(language="en").delete()  # the officer has published the notice in English only
    site_key = Service.objects.exclude(site_key="").get(name="demo-shop").site_key
    page = german.new_page()
    # a page of the hub's own origin (always allowed for the demo's key) that says lang="de"
    page.route(
        f"{seeded}/sprachtest/",
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=GERMAN_PAGE.format(site_key=site_key)
        ),
    )
    with page.expect_response(lambda r: "/collect/notice" in r.url) as answered:
        page.goto(f"{seeded}/sprachtest/")
    notice = answered.value.json()
    assert "lang=de" in answered.value.url and notice["notice"]["language"] == "en"
    banner = page.locator("#hub-banner")
    banner.wait_for()
    assert page.locator("#hub-banner-title").inner_text() == notice["notice"]["title"]  # the officer's words
    assert page.locator("#hub-accept-all").inner_text() == "Alle akzeptieren"
    assert page.locator("#hub-reject-all").inner_text() == "Alle ablehnen"
    page.click("#hub-choose")
    assert page.locator("#hub-save-choices").inner_text() == "Auswahl speichern"
    labels = " | ".join(page.locator("#hub-banner label").all_inner_texts())
    assert "Statistik" in labels and "Werbung" in labels and "Analytics" not in labels
    assert "immer aktiv" in labels  # the essential purpose, in German too
    assert accessibility_problems(page) == []


def test_a_german_page_gets_the_german_notice_when_one_is_published(seeded: str, german: Any) -> None:
    site_key = Service.objects.exclude(site_key="").get(name="demo-shop").site_key
    page = german.new_page()
    page.route(
        f"{seeded}/sprachtest/",
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=GERMAN_PAGE.format(site_key=site_key)
        ),
    )
    page.goto(f"{seeded}/sprachtest/")
    page.locator("#hub-banner").wait_for()
    assert page.locator("#hub-banner-title").inner_text() == "So verwenden wir Ihre Daten"
    assert page.locator("#hub-accept-all").inner_text() == "Alle akzeptieren"
    screenshot(page, "banner-de")


def test_a_german_person_gets_a_german_sign_in_email_from_the_worker(
    purposes, live_server, mailbox, settings, german, celery_worker_process
) -> None:
    """The e-mail is written by the real worker (which runs in English) in the language the person
    asked in, and its link opens the German portal."""
    import re

    from tests.e2e.conftest import wait_until
    from tests.factories import EMAIL, person_with_history, shop_services

    settings.HUB_PUBLIC_URL = live_server.url
    person_with_history(shop_services())
    celery_worker_process(EMAIL_URL=mailbox.url, HUB_PUBLIC_URL=live_server.url)
    page = german.new_page()
    page.goto(f"{live_server.url}/portal/sign-in")
    page.fill("input[name=email]", EMAIL)
    page.get_by_role("button", name="Anmeldelink per E-Mail senden").click()
    page.wait_for_load_state()
    message = wait_until(lambda: mailbox.to(EMAIL), timeout=30)[-1]
    assert str(message["Subject"]) == "Ihr Anmeldelink für das Datenschutzportal"
    body = mailbox.body(message)
    assert "Datenschutzportal" in body and "Someone asked" not in body
    page.goto(re.search(r"(https?://\S+/portal/sign-in/\S+)", body).group(1))
    assert page.locator("html").get_attribute("lang") == "de"
    assert accessibility_problems(page) == []
