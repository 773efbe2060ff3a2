"""Masking identifiers and identifying values for display: one rule for officers and the person."""

from __future__ import annotations

from typing import Any

# Profile values in these fideslang categories are contact data or identifiers: masked like them.
MASKED_CATEGORIES = ("user.contact", "user.unique_id", "user.government_id", "user.authorization")


def identifier_mask(kind: str, value: str) -> str:
    """`zoe@example.org` → `z***@example.org`; `zoe-user-7731` → `zo***31`."""
    if kind == "email" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) <= 6:
        return f"{value[:1]}***"
    return f"{value[:2]}***{value[-2:]}"


def value_masked(data_category: str, value: Any) -> Any:
    if isinstance(value, str) and data_category.startswith(MASKED_CATEGORIES):
        return identifier_mask("email" if "@" in value else "other", value)
    return value
