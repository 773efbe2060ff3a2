"""Officers' admin for subjects' identities: merges are read-only, and can be split (undone)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from audit.admin import ReadOnlyAdmin
from audit.services import Actor
from profiles.collection.models import EventPurpose, OutcomeCount, TrackingPlanEvent
from profiles.collection.stitching import subject_split
from profiles.identity.models import SubjectMerge
from profiles.models import Segment, SegmentKind
from profiles.segments.membership import segment_fill_state


@admin.register(SubjectMerge)
class SubjectMergeAdmin(ReadOnlyAdmin):
    """Ids and consent statuses only: a merge row holds nothing that identifies a person."""

    list_display = ("id", "survivor_id", "absorbed_id", "merged_at", "merged_by", "split_at", "split_by")
    list_filter = (("split_at", admin.EmptyFieldListFilter),)
    search_fields = ("=id", "=survivor__id", "=absorbed__id")
    actions = ("split",)
    show_full_result_count = False

    @admin.action(description="Split (undo merge)", permissions=("split",))
    def split(self, request: HttpRequest, queryset: QuerySet[SubjectMerge]) -> None:
        actor = Actor("officer", str(request.user.pk))
        # newest first: the natural order to undo a chain of merges
        live = list(
            queryset.filter(split_at__isnull=True).order_by("-merged_at").values_list("pk", flat=True)
        )
        for merge_id in live:
            subject_split(merge_id=merge_id, actor=actor)
        messages.success(request, f"{len(live)} merge(s) split; the moved identifiers are back.")

    def has_split_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("profiles.split_subjectmerge")


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Officers define rule segments; the condition is checked when saved (profiles/segments/rules.py).
    Cluster models are segments too, defined on their own page (profiles/admin_clusters.py)."""

    exclude = ("kind",)
    list_display = ("key", "name", "active", "profiling", "significant_effect", "members", "fill_state")
    list_filter = ("active", "profiling", "significant_effect")
    filter_horizontal = ("purposes",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Segment]:
        return (
            super()
            .get_queryset(request)
            .filter(kind=SegmentKind.RULE)
            .prefetch_related("purposes")
            .annotate(member_count=Count("memberships"))
        )

    @admin.display(description="members", ordering="member_count")
    def members(self, segment: Segment) -> int:
        return int(getattr(segment, "member_count", 0))

    @admin.display(description="evaluated")
    def fill_state(self, segment: Segment) -> str:
        """Whether every subject with data in the window has been evaluated against the current rule."""
        return segment_fill_state(segment)


@admin.register(TrackingPlanEvent)
class TrackingPlanEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("event_type", "name", "active", "description")
    list_filter = ("event_type", "active")


@admin.register(EventPurpose)
class EventPurposeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The tracking plan's word on the purpose of events that name none (Segment-format events)."""

    list_display = ("event_type", "name", "service", "purpose")
    list_filter = ("event_type", "purpose", "service")
    search_fields = ("name",)


@admin.register(OutcomeCount)
class OutcomeCountAdmin(ReadOnlyAdmin):
    """What became of each service's events, counted by day: accepted, duplicate, refused (why), invalid."""

    list_display = ("day", "service", "channel", "status", "reason", "count")
    list_filter = ("channel", "status", "reason", "service")
    date_hierarchy = "day"


from profiles import admin_clusters  # noqa: E402, F401  (registers the cluster models' admin)
