"""Purposes' names and descriptions in a person's language (PurposeTranslation, edited by officers).

The fallback order is the requested language, then the hub's LANGUAGE_CODE, then the purpose's own
fields (written in English): a missing translation shows the English text, never an empty name.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from consent.models import Purpose


def language_primary(language: str | None) -> str:
    """The primary subtag of a language tag, lower case ("de-DE" → "de"; "" for none)."""
    return (language or "").replace("_", "-").split("-")[0].strip().lower()


def language_supported(language: str | None = None) -> str:
    """A language the hub has a catalog for: `language` (default: the one active for the request
    being served, chosen by LocaleMiddleware) if listed in LANGUAGES, else LANGUAGE_CODE. What
    e-mails and exports to a person are written in is stored as this code (a code is no personal data)."""
    wanted = language_primary(language if language is not None else translation.get_language())
    if wanted in {code for code, _name in settings.LANGUAGES}:
        return wanted
    return str(settings.LANGUAGE_CODE)


def purpose_text(purpose: Purpose, language: str | None) -> tuple[str, str]:
    """(name, description) of `purpose` in `language`, by the fallback order above.

    Reads `purpose.translations.all()`, so a caller listing many purposes prefetches
    "translations" and this costs no query per purpose.
    """
    by_language = {row.language: row for row in purpose.translations.all()}
    for candidate in (language_primary(language), language_primary(settings.LANGUAGE_CODE)):
        row = by_language.get(candidate)
        if row is not None:
            return row.name or purpose.name, row.description or purpose.description
    return purpose.name, purpose.description
