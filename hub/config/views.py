"""Views whose whole request uses one version of the cached configuration."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.http import HttpResponseBase

from hub.config.cache import pinned, request_token


class OneConfigVersion:
    """Mixin for an API view (before `APIView`): the request — authentication, permissions and the
    view — reads the configuration's version token once (`pinned`), not once per cached value. That
    read is the request's first query and its connection's health check (`request_token`).

    Only for views that do not change configuration themselves: inside the block, a change the
    request made would not be seen until the next request.
    """

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            token = request_token()
        except DatabaseError:
            # the database is unreachable: the view's own first query fails the same way, inside
            # DRF's exception handling, which answers 503 with Retry-After (hub.api)
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
        with pinned(lambda: token):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
