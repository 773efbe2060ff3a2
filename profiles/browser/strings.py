"""The banner's words, served with the notice (hub.js carries no text of its own).

Each key is what hub.js shows (a contract with hub.js: never rename one); the values are Django
translation strings, so they come from the same catalog (`locale/`) as the portal's.

Which language: the one the page asked for (`lang`, the page's <html lang>) whenever the hub has a
catalog for it, even if the officer has published the notice only in English — a German page gets
German buttons around an English notice rather than English buttons. Only a language the hub has no
catalog for falls back to the notice's language, and then to English (LANGUAGE_CODE).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

BANNER_STRINGS = {
    "accept_all": _("Accept all"),
    "reject_all": _("Reject all"),
    "choose": _("Choose"),
    "save_choices": _("Save choices"),
    "choices_label": _("Your choices per purpose"),
    "choices_legend": _("Choose what you allow"),
    "always_on": _("always on"),
    "off_gpc": _("off: Global Privacy Control"),
    "gpc_honoured": _(
        "Your browser sent a Global Privacy Control signal: we will not sell or share your data or use it "
        "for targeted advertising, whatever you choose here."
    ),
    "privacy_settings": _("Privacy settings"),
    "close": _("Close"),
    "do_not_sell": _("Do Not Sell or Share My Personal Information"),
    "limit_sensitive": _("Limit the Use of My Sensitive Personal Information"),
    "opted_out": _("Done: we will not sell or share your personal information."),
    "limited": _("Done: we will use your sensitive personal information only as needed to serve you."),
    "notice_at_collection": _("Notice at collection"),
    "ok": _("OK"),
    "blocked_frame": _("This content is from another site and may set cookies for: {purpose}."),
    "load_with_consent": _("Load with consent"),
}


def banner_language(requested: str, *, fallback: str = "") -> str:
    """The language the banner's words are served in: `requested` if the hub has a catalog for it,
    else `fallback` (the notice's language) if it has that one, else LANGUAGE_CODE."""
    available = {code for code, _name in settings.LANGUAGES}
    for candidate in (requested, fallback):
        primary = (candidate or "").split("-")[0].lower()
        if primary in available:
            return primary
    return str(settings.LANGUAGE_CODE)


def banner_strings(requested: str, *, fallback: str = "") -> dict[str, str]:
    """Every banner string in `banner_language(requested, fallback=fallback)` (the docstring above)."""
    with override(banner_language(requested, fallback=fallback)):
        return {key: str(text) for key, text in BANNER_STRINGS.items()}
