"""Every language: the catalogs are complete, compiled and current, and each channel speaks the
person's language — the portal (Accept-Language, then the language switcher's cookie), the
banner's words and purposes (the page's `lang`), e-mails (the language of the request that caused
them, whatever the worker's) and the export's index.html.
"""

from __future__ import annotations

import ast
import io
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation

from audit.services import Actor
from consent.decisions import notice_publish
from consent.models import Purpose, PurposeTranslation
from consent.translations import purpose_text
from profiles.browser.strings import BANNER_STRINGS
from profiles.portal.models import SignInLink
from profiles.requests.domain import Channel
from profiles.requests.emails import subject_notify
from profiles.requests.export import export_build
from profiles.requests.services import request_submit
from tasks.portal import send_sign_in_link
from tests.factories import EMAIL, SHOP_ORIGIN, USER_ID, person, signed_in, site_with_key
from tests.tasks_sent import tasks_sent

ROOT = Path(django_settings.BASE_DIR)
LOCALE = ROOT / "locale"
LANGUAGES = ("de", "fr")
SOURCES = ("audit", "consent", "hub", "profiles", "tasks")  # what `make messages` scans (Makefile)


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in this thread: reset it."""
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


# --- the catalogs ----------------------------------------------------------------------------
def _entries(po: Path) -> list[dict[str, Any]]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (a list) and flags."""
    entries = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        entry: dict[str, Any] = {"flags": set(), "msgstr": []}
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and current is not None:
                current.append(ast.literal_eval(line))
            elif line.strip():
                key, value = line.split(" ", 1)
                current = [ast.literal_eval(value)]
                if key.startswith("msgstr"):
                    entry["msgstr"].append(current)
                else:
                    entry[key] = current
        if "msgid" in entry:
            entry = {
                key: "".join(value) if key in ("msgid", "msgid_plural", "msgctxt") else value
                for key, value in entry.items()
            }
            entry["msgstr"] = ["".join(parts) for parts in entry["msgstr"]]
            if entry["msgid"]:  # not the header
                entries.append(entry)
    return entries


def _msgids(po: Path) -> set[tuple[str, str, str]]:
    return {(e.get("msgctxt", ""), e["msgid"], e.get("msgid_plural", "")) for e in _entries(po)}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_is_complete_with_nothing_fuzzy(language: str) -> None:
    entries = _entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(entries) > 300  # the portal, the banner, e-mails, the export, the officers' pages
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"]) or not e["msgstr"]]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []
    # every banner string (hub.js shows them) is there and translated
    with translation.override("en"):  # English is the source language: the msgids themselves
        banner = {str(text) for text in BANNER_STRINGS.values()}
    assert banner <= {e["msgid"] for e in entries if e["msgstr"][0]}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_checked_in_mo_is_the_compiled_po(language: str, tmp_path: Path) -> None:
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    compiled = tmp_path / "django.mo"
    # what `compilemessages` runs; --check-format fails on a msgstr whose placeholders differ
    subprocess.run(["/usr/bin/msgfmt", "--check-format", "-o", str(compiled), str(po)], check=True)
    assert compiled.read_bytes() == (po.parent / "django.mo").read_bytes(), (
        f"locale/{language}/LC_MESSAGES/django.mo is stale: run `make messages`"
    )


def test_makemessages_would_add_or_drop_no_msgid(tmp_path: Path, settings: Any, monkeypatch: Any) -> None:
    """`make messages` run now changes no msgid: every translatable string of the code and the
    templates is in the catalogs, and nothing stale is left in them."""
    copy = tmp_path / "tree"
    for name in SOURCES:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copytree(LOCALE, copy / "locale")
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=list(LANGUAGES), no_obsolete=True, no_location=True, verbosity=0)
    for language in LANGUAGES:
        checked_in = _msgids(LOCALE / language / "LC_MESSAGES" / "django.po")
        regenerated = _msgids(copy / "locale" / language / "LC_MESSAGES" / "django.po")
        assert {m[1] for m in regenerated - checked_in} == set(), "new strings: run `make messages`"
        assert {m[1] for m in checked_in - regenerated} == set(), (
            "strings no longer used: run `make messages`"
        )
    # the copy's catalogs were rewritten, the real ones untouched
    assert (copy / "locale").exists() and (LOCALE / "de" / "LC_MESSAGES" / "django.po").exists()


# --- the portal ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_accept_language_de_gives_the_german_sign_in_page(client: Client) -> None:
    response = client.get("/portal/sign-in", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Language"] == "de"
    assert '<html lang="de">' in html and "Melden Sie sich in Ihrem Datenschutzportal an" in html
    assert "Sign in to your privacy portal" not in html
    # the switcher offers every language, each named in itself, the current one selected
    assert '<option value="de" lang="de" selected>Deutsch</option>' in html
    assert '<option value="fr" lang="fr">Français</option>' in html
    # a language the hub has no catalog for gets English
    english = client.get("/portal/sign-in", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="en">' in english and "Sign in to your privacy portal" in english


def _csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, "the switcher has a CSRF token"
    return found.group(1)


@pytest.mark.django_db
def test_the_language_switcher_sets_a_cookie_that_beats_accept_language() -> None:
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="de")
    page = browser.get("/portal/sign-in").content.decode()
    switched = browser.post(
        "/i18n/setlang/",
        {"language": "fr", "next": "/portal/sign-in", "csrfmiddlewaretoken": _csrf_token(page)},
    )
    assert switched.status_code == 302 and switched["Location"] == "/portal/sign-in"
    cookie = switched.cookies[django_settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr" and cookie["samesite"] == "Lax" and cookie["httponly"]
    # the browser still says German; the person's choice wins
    french = browser.get("/portal/sign-in").content.decode()
    assert '<html lang="fr">' in french and "Connectez-vous à votre portail de confidentialité" in french


@pytest.mark.django_db
def test_a_forged_or_hostile_switch_changes_nothing() -> None:
    browser = Client(enforce_csrf_checks=True)
    # another site's form posting to the switcher (no CSRF token): refused
    forged = browser.post("/i18n/setlang/", {"language": "de", "next": "/portal/sign-in"})
    assert forged.status_code == 403 and django_settings.LANGUAGE_COOKIE_NAME not in forged.cookies
    token = _csrf_token(browser.get("/portal/sign-in").content.decode())
    # a language the hub does not have: no cookie; a `next` on another site: not followed
    unknown = browser.post(
        "/i18n/setlang/", {"language": "xx", "next": "/portal/", "csrfmiddlewaretoken": token}
    )
    assert django_settings.LANGUAGE_COOKIE_NAME not in unknown.cookies
    away = browser.post(
        "/i18n/setlang/",
        {"language": "de", "next": "https://evil.example/phish", "csrfmiddlewaretoken": token},
    )
    assert away.status_code == 302 and "evil.example" not in away["Location"]


@pytest.mark.django_db
def test_the_portal_consent_page_names_purposes_in_german(client: Client) -> None:
    import_module("consent.migrations.0011_purpose_translations").install(django_apps, None)
    subject = person(USER_ID, EMAIL)
    signed_in(client, subject, USER_ID)
    html = client.get("/portal/consent", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Statistik" in html and "Werbung" in html and "Meine Einwilligungen" in html
    assert "<h3>Analytics</h3>" not in html


# --- the banner ------------------------------------------------------------------------------
def _notice(client: Client, site_key: str, language: str) -> Any:
    response = client.get(f"/collect/notice?site={site_key}&lang={language}", HTTP_ORIGIN=SHOP_ORIGIN)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_the_notice_endpoint_speaks_the_pages_language(client: Client) -> None:
    import_module("consent.migrations.0011_purpose_translations").install(django_apps, None)
    site = site_with_key(purposes=("essential", "analytics", "advertising"))
    notice_publish(title="Privacy notice", text="English text", purposes=["analytics", "advertising"],
                   actor=Actor.system())  # fmt: skip
    # only an English notice: a German page still gets German buttons and purpose names
    body = _notice(client, site.site_key, "de-DE")
    assert body["notice"]["language"] == "en" and body["notice"]["text"] == "English text"
    assert (
        body["strings"]["accept_all"] == "Alle akzeptieren"
        and body["strings"]["reject_all"] == "Alle ablehnen"
    )
    assert set(body["strings"]) == set(BANNER_STRINGS)  # the keys hub.js reads, all of them
    names = {p["key"]: p["name"] for p in body["purposes"]}
    assert names == {"analytics": "Statistik", "advertising": "Werbung"}
    # the officer publishes a German notice: the page gets it, with the same German words
    notice_publish(title="Datenschutzhinweis", text="Deutscher Text", purposes=["analytics", "advertising"],
                   language="de", actor=Actor.system())  # fmt: skip
    german = _notice(client, site.site_key, "de")
    assert german["notice"]["language"] == "de" and german["notice"]["title"] == "Datenschutzhinweis"
    assert german["strings"]["save_choices"] == "Auswahl speichern"
    assert {p["description"] for p in german["purposes"]} >= {
        "Messen, wie die Website und die Apps genutzt werden, um sie zu verbessern."
    }
    # French: French words; a language the hub has no catalog for: English, never a mix
    french = _notice(client, site.site_key, "fr")
    assert french["strings"]["accept_all"] == "Tout accepter"
    assert {p["name"] for p in french["purposes"]} == {"Mesure d’audience", "Publicité"}
    other = _notice(client, site.site_key, "it")
    assert other["strings"]["accept_all"] == "Accept all"
    assert {p["name"] for p in other["purposes"]} == {"Analytics", "Advertising"}


@pytest.mark.django_db
def test_purpose_text_falls_back_to_the_hubs_language_then_the_purposes_own_words() -> None:
    analytics = Purpose.objects.get(key="analytics")
    PurposeTranslation.objects.filter(purpose=analytics).delete()
    assert purpose_text(analytics, "de") == (analytics.name, analytics.description)
    PurposeTranslation.objects.create(
        purpose=analytics, language="en", name="Audience", description="Counting"
    )
    PurposeTranslation.objects.create(
        purpose=analytics, language="de", name="Statistik", description="Zählen"
    )
    assert purpose_text(analytics, "de-AT") == ("Statistik", "Zählen")
    assert purpose_text(analytics, "it") == ("Audience", "Counting")  # then LANGUAGE_CODE's row


# --- e-mails and the export ----------------------------------------------------------------
@pytest.mark.django_db
def test_a_sign_in_link_asked_for_in_german_is_emailed_in_german(
    client: Client, hub_settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    person(USER_ID, EMAIL)
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/portal/sign-in", {"email": EMAIL}, HTTP_ACCEPT_LANGUAGE="de")
    [args] = [task.args for task in sent if task.name == "portal.send_sign_in_link"]
    assert SignInLink.objects.get().language == "de" and args == (str(SignInLink.objects.get().id),)
    with translation.override("en"):  # the worker's own language does not matter
        send_sign_in_link.run(*args)
    [message] = mail.outbox
    assert message.subject == "Ihr Anmeldelink für das Datenschutzportal"
    assert "innerhalb von 15 Minuten" in message.body and "http://hub.test/portal/sign-in/" in message.body
    assert "Someone asked" not in message.body


@pytest.mark.django_db
def test_a_request_filed_in_french_is_answered_and_exported_in_french(
    hub_settings: Any, monkeypatch: Any
) -> None:
    tasks_sent(monkeypatch)
    subject = person(USER_ID, EMAIL)
    with translation.override("fr"):  # the portal's request, served in French
        case = request_submit(kind="access", subject_id=subject.id, channel=Channel.PORTAL,
                              actor=Actor("subject", str(subject.id)), vouched=True, contact_email=EMAIL)  # fmt: skip
    assert case.language == "fr"
    with translation.override("de"):
        assert subject_notify(case=case, notice="acknowledged")
    [message] = mail.outbox
    assert message.subject == "Nous avons reçu votre demande relative à vos données"
    assert "Nous avons reçu votre demande (accès)" in message.body
    month = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")[case.due_at.month - 1]  # fmt: skip
    assert month in message.body
    # the export's index.html, in the requester's language
    archive = export_build(subject_ids=[subject.id], request_id=case.id, kind="access",
                           generated_at=timezone.now(), language="fr")  # fmt: skip
    index = zipfile.ZipFile(io.BytesIO(archive)).read("index.html").decode()
    assert '<html lang="fr">' in index and "Vos données personnelles (RGPD art. 15)" in index
    assert "(e) Vos droits" in index and "Your personal data" not in index
