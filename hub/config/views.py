"""Views whose whole request uses one version of the cached configuration."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase

from hub.config.cache import pinned


class OneConfigVersion:
    """Mixin for an API view (before `APIView`): the request — authentication, permissions and the
    view — reads the configuration's version token once (`pinned`), not once per cached value.

    Only for views that do not change configuration themselves: inside the block, a change the
    request made would not be seen until the next request.
    """

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with pinned():
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
