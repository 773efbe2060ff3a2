"""The fideslang default taxonomy: which data uses and data categories keys exist."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1)
def data_uses() -> frozenset[str]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_use)


@lru_cache(maxsize=1)
def data_categories() -> frozenset[str]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_category)


def unknown_keys(keys: Iterable[object], known: frozenset[str]) -> list[str]:
    """The keys that are not strings in the taxonomy (shown back as text)."""
    return sorted(str(key) for key in keys if not isinstance(key, str) or key not in known)
