"""The banner's words, served with the notice in the notice's language (hub.js carries no text of its own).

Each key is what hub.js shows; the values are Django translation strings, so they come from the same
catalogs (`locale/`) as the portal's.
"""

from __future__ import annotations

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


def banner_strings(language: str) -> dict[str, str]:
    """Every banner string in `language` (a catalog that lacks one falls back to English)."""
    with override(language):
        return {key: str(text) for key, text in BANNER_STRINGS.items()}
