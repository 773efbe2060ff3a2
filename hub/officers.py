"""Who to tell: the officers holding a permission, for the hub's alert e-mails (request deadlines,
the breach clock, assessment reviews)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q


def emails_with_permission(permission: str) -> list[str]:
    """The addresses of active users holding `permission` ("app_label.codename") directly or
    through a group, and of superusers; sorted, each once."""
    app_label, codename = permission.split(".", 1)
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    holders = users.filter(
        Q(is_superuser=True)
        | Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label)
        | Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label)
    )
    return sorted(set(holders.values_list("email", flat=True)))
