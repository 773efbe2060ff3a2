"""Officers' admin for cluster models: define one (its segment's words and flags, its features,
algorithm and schedule, what each cluster means), see its runs, its clusters and a PCA plot, train it.

A cluster model is a `Segment` of kind "cluster" plus its `ClusterModel`: this one page edits both.
It is guarded by the segment permissions officers and viewers already hold (a cluster model is a
segment): viewers read it, officers change and train it. The plot is SVG computed here from the
run's stored projection (a coarse grid whose sparse cells the engine dropped) and drawn by the
template: no JavaScript, no point standing for one person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from consent.models import Assessment, Purpose
from hub.errors import DomainError
from profiles.models import (
    ART22_BASES,
    ClusterMeaning,
    ClusterModel,
    ClusterRun,
    ClusterRunStatus,
    Segment,
    SegmentKind,
)
from profiles.segments import clusters

# the projector's numeric fields (profiles/projection.py) a model can learn from, as help for officers
NUMERIC_FIELDS = (
    "aggregate:order_count", "aggregate:revenue_total", "aggregate:order_recency_days", "aggregate:sessions",
    "aggregate:session_seconds", "aggregate:page_views", "aggregate:max_page_depth", "aggregate:events",
    'aggregate:events_by_name.<event name, e.g. "Product Viewed">', "score:engagement",
)  # fmt: skip
PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#558b2f",
           "#4e342e", "#283593")  # fmt: skip
OUTLIERS = "#9e9e9e"  # DBSCAN's label -1: nobody's cluster
RUNS_SHOWN = 20


def colour(label: int) -> str:
    return OUTLIERS if label < 0 else PALETTE[label % len(PALETTE)]


# --- the PCA plot ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    size: float
    colour: str
    opacity: float
    label: str


@dataclass(frozen=True)
class Centre:
    x: float
    y: float
    colour: str
    label: str


@dataclass(frozen=True)
class Caption:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    rotate: bool = False


@dataclass
class Plot:
    title: str
    width: int
    height: int
    axes: str  # polyline points of the two axes
    cells: list[Cell] = field(default_factory=list)
    centres: list[Centre] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)


def projection_plot(projection: dict[str, Any], *, version: int) -> Plot | None:
    """The run's PCA projection as SVG primitives: a square per grid cell (its colour the label,
    its opacity the count), a cross per centroid, axes named with the variance they explain."""
    bounds, cells = projection.get("bounds"), projection.get("cells")
    if not isinstance(bounds, list) or len(bounds) != 4 or not isinstance(cells, list):
        return None
    width, height, left, right, top, bottom = 420, 320, 44, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    xmin, xmax, ymin, ymax = (float(v) for v in bounds)
    span_x, span_y = max(xmax - xmin, 1e-9), max(ymax - ymin, 1e-9)

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - xmin) / span_x * plot_w, top + plot_h - (y - ymin) / span_y * plot_h

    side_x, side_y = plot_w / clusters.GRID, plot_h / clusters.GRID
    side = max(min(side_x, side_y) * 0.9, 1.0)
    peak = max([int(c[3]) for c in cells] + [1])
    plot = Plot(
        f"Model version {version}: people on the first two principal components",
        width, height, f"{left},{top} {left},{top + plot_h} {left + plot_w},{top + plot_h}",
    )  # fmt: skip
    for x, y, label, count in cells:
        cx, cy = at(float(x), float(y))
        plot.cells.append(
            Cell(cx - side / 2, cy - side / 2, side, colour(int(label)), round(0.25 + 0.75 * int(count) / peak, 3),
                 f"cluster {label}: {count} people" if int(label) >= 0 else f"outliers: {count} people")
        )  # fmt: skip
    for x, y, label in projection.get("centroids") or []:
        cx, cy = at(float(x), float(y))
        plot.centres.append(Centre(cx, cy, colour(int(label)), f"centre of cluster {label}"))
    explained = [float(v) for v in projection.get("explained") or []] + [0.0, 0.0]
    plot.captions += [
        Caption(left + plot_w / 2, height - 10, f"PC1 ({explained[0] * 100:.0f}% of the variance)"),
        Caption(14, top + plot_h / 2, f"PC2 ({explained[1] * 100:.0f}% of the variance)", rotate=True),
    ]
    return plot


# --- reading a run -----------------------------------------------------------------------------
def run_clusters(run: ClusterRun, meanings: dict[int, str]) -> list[dict[str, Any]]:
    """The run's clusters: label, size, centroid per feature (original units), the officer's words."""
    features = [str(f) for f in run.features]
    rows = []
    labels = sorted({int(k) for k in run.sizes} | {int(k) for k in run.centroids})
    for label in labels:
        centre = run.centroids.get(str(label))  # JSON keys: labels as text
        if isinstance(centre, list):
            centre = dict(zip(features, centre, strict=False))
        rows.append({
            "label": label, "size": run.sizes.get(str(label), 0),
            "centroid": [(name, (centre or {}).get(name)) for name in features],
            "meaning": meanings.get(label, ""), "colour": colour(label),
        })  # fmt: skip
    return rows


# --- the form: the segment's fields and the model's, on one page -------------------------------
SEGMENT_FIELDS = (
    "key",
    "name",
    "description",
    "purposes",
    "active",
    "significant_effect",
    "art22_basis",
    "assessment",
)


class ClusterModelForm(forms.ModelForm):  # type: ignore[type-arg]
    key = forms.SlugField(max_length=64, help_text="A short id services use in the API, e.g. shopper-groups.")
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the model groups people by, in words people and services read.",
    )  # fmt: skip
    purposes = forms.ModelMultipleChoiceField(
        Purpose.objects.order_by("key"), widget=FilteredSelectMultiple("purposes", is_stacked=False),
        help_text="Only people who consent to every one of them are trained on and labelled.",
    )  # fmt: skip
    active = forms.BooleanField(required=False, initial=True)
    significant_effect = forms.BooleanField(
        required=False, help_text=Segment._meta.get_field("significant_effect").help_text
    )
    art22_basis = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *ART22_BASES],
        help_text=Segment._meta.get_field("art22_basis").help_text,
    )
    assessment = forms.ModelChoiceField(
        Assessment.objects.filter(kind="dpia"),
        required=False,
        help_text=Segment._meta.get_field("assessment").help_text,
    )
    features = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text="One per line, as purpose/kind:name[.part]. Numeric fields of the hub: "
        + "; ".join(f"<purpose>/{name}" for name in NUMERIC_FIELDS)
        + ".",
    )

    class Meta:
        model = ClusterModel
        fields = (*SEGMENT_FIELDS, "features", "algorithm", "k_min", "k_max", "eps", "min_samples",
                  "normalisation", "retrain_every", "seed")  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.segment: Segment | None = None
        if self.instance.pk:
            segment = self.instance.segment
            self.fields["key"].disabled = True
            self.initial.update(
                {name: getattr(segment, name) for name in SEGMENT_FIELDS if name != "purposes"}
            )
            self.initial["assessment"] = segment.assessment_id
            self.initial["purposes"] = list(segment.purposes.all())
            self.initial["features"] = "\n".join(self.instance.features)
            chosen = segment.purpose_keys()
            if chosen:
                self.fields["features"].help_text = "One per line, as purpose/kind:name[.part]. For example: " + "; ".join(
                    f"{purpose}/{name}" for purpose in chosen for name in NUMERIC_FIELDS[:4]
                ) + "."  # fmt: skip

    def clean_features(self) -> list[str]:
        return [line.strip() for line in str(self.cleaned_data["features"]).splitlines() if line.strip()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        segment: Segment = self.instance.segment if self.instance.pk else Segment(kind=SegmentKind.CLUSTER)
        if not self.instance.pk:
            segment.key = data.get("key", "")
        for name in ("name", "description", "active", "significant_effect", "art22_basis", "assessment"):
            setattr(segment, name, data.get(name) if name != "description" else data.get(name, ""))
        segment.art22_basis = segment.art22_basis or ""
        segment.kind, segment.condition, segment.profiling, segment.not_profiling_reason = (
            SegmentKind.CLUSTER,
            {},
            True,
            "",
        )
        # Segment.clean and ClusterModel.clean read the segment's purposes; before anything is saved
        # they must see the ones chosen on this form, so they are handed over as a prefetched cache
        segment._prefetched_objects_cache = {"purposes": list(data.get("purposes") or [])}  # type: ignore[attr-defined]  # Django's own cache
        try:
            segment.full_clean(exclude=["purposes"], validate_unique=not self.instance.pk)
        except ValidationError as problem:
            for name, errors in problem.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        self.segment = segment
        self.instance.segment = segment
        return data


class ClusterMeaningInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ClusterMeaning
    extra = 1
    fields = ("label", "meaning")
    verbose_name = "meaning of a cluster"
    verbose_name_plural = "what each cluster means (people and services read these words)"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "view")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "change")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "change")


def _allowed(request: HttpRequest, action: str) -> bool:
    """A cluster model is a segment: the segment permissions decide (view also with change)."""
    user = request.user
    if action == "view":
        return user.has_perm("profiles.view_segment") or user.has_perm("profiles.change_segment")
    return user.has_perm(f"profiles.{action}_segment")


@admin.register(ClusterModel)
class ClusterModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ClusterModelForm
    inlines = (ClusterMeaningInline,)
    change_form_template = "admin/profiles/clustermodel/change_form.html"
    list_display = ("segment_id", "name", "algorithm", "feature_count", "latest_version", "silhouette",
                    "members", "active")  # fmt: skip
    list_filter = ("algorithm", "segment__active")
    search_fields = ("segment__key", "segment__name")
    actions = ("train_now",)
    fieldsets = (
        ("The segment", {"fields": ("key", "name", "description", "purposes", "active")}),
        ("What it learns from", {"fields": ("features", "normalisation")}),
        ("How it groups people", {
            "fields": ("algorithm", ("k_min", "k_max"), ("eps", "min_samples"), "seed"),
            "description": "K-Means and Gaussian mixture try every k from k_min to k_max and keep the best "
            "silhouette score; DBSCAN uses eps and min_samples and leaves outliers unlabelled.",
        }),
        ("Schedule", {"fields": ("retrain_every",)}),
        ("Profiling (GDPR Art. 4(4), 22, 35)", {
            "fields": ("significant_effect", "art22_basis", "assessment"),
            "description": "A cluster model is always profiling: people are told the logic involved and may "
            "object to it in the portal (Art. 21), which takes them out of it at once.",
        }),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClusterModel]:
        return (
            super().get_queryset(request).select_related("segment")
            .annotate(member_count=Count("segment__memberships", distinct=True))
        )  # fmt: skip

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _allowed(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _allowed(request, "delete")

    def has_train_permission(self, request: HttpRequest) -> bool:
        return _allowed(request, "change")

    @admin.display(description="name", ordering="segment__name")
    def name(self, obj: ClusterModel) -> str:
        return obj.segment.name

    @admin.display(description="active", boolean=True)
    def active(self, obj: ClusterModel) -> bool:
        return obj.segment.active

    @admin.display(description="features")
    def feature_count(self, obj: ClusterModel) -> int:
        return len(obj.features)

    @admin.display(description="members", ordering="member_count")
    def members(self, obj: ClusterModel) -> int:
        return int(getattr(obj, "member_count", 0))

    @admin.display(description="version")
    def latest_version(self, obj: ClusterModel) -> int | None:
        run = _latest(obj)
        return run.version if run else None

    @admin.display(description="silhouette")
    def silhouette(self, obj: ClusterModel) -> str:
        run = _latest(obj)
        return "—" if run is None or run.silhouette is None else f"{run.silhouette:.3f}"

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: ClusterModel, form: Any, change: bool) -> None:
        segment = form.segment
        segment._prefetched_objects_cache.pop("purposes", None)  # the form's stand-in: the real links follow
        segment.save()
        segment.purposes.set(form.cleaned_data["purposes"])
        obj.segment = segment
        obj.save()

    def delete_model(self, request: HttpRequest, obj: ClusterModel) -> None:
        obj.segment.delete()  # its model, runs, meanings, memberships and exclusions go with it

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ClusterModel]) -> None:
        Segment.objects.filter(pk__in=list(queryset.values_list("segment_id", flat=True))).delete()

    @admin.action(description="Train now", permissions=("train",))
    def train_now(self, request: HttpRequest, queryset: QuerySet[ClusterModel]) -> None:
        keys = list(queryset.values_list("segment_id", flat=True))
        for key in keys:
            clusters.cluster_train_request(key=key)
        messages.success(request, f"Training queued for {len(keys)} model(s).")

    def get_urls(self) -> list[Any]:
        train = path(
            "<path:object_id>/train/",
            self.admin_site.admin_view(self.train_view),
            name="profiles_clustermodel_train",
        )
        return [train, *super().get_urls()]

    def train_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Train now" button (POST): queue a training run of this model."""
        if not self.has_train_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponse(
                "Train with the button on the model's page (POST).", status=405, content_type="text/plain"
            )
        if not ClusterModel.objects.filter(pk=object_id).exists():
            raise Http404("No such cluster model.")
        try:
            clusters.cluster_train_request(key=object_id)
        except DomainError as problem:
            messages.error(request, problem.message)
        else:
            messages.success(request, "Training queued: the new version appears below when it has run.")
        return HttpResponseRedirect(reverse("admin:profiles_clustermodel_change", args=[object_id]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        model = ClusterModel.objects.filter(pk=object_id).first()
        context = dict(extra_context or {})
        if model is not None:
            context |= _run_context(model) | {"can_train": self.has_train_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context=context)


def _latest(model: ClusterModel) -> ClusterRun | None:
    return model.runs.filter(status=ClusterRunStatus.TRAINED).order_by("-version").first()


def _run_context(model: ClusterModel) -> dict[str, Any]:
    latest = _latest(model)
    meanings = dict(model.meanings.values_list("label", "meaning"))
    return {
        "runs": list(model.runs.order_by("-version")[:RUNS_SHOWN]),
        "latest": latest,
        "latest_clusters": run_clusters(latest, meanings) if latest else [],
        "plot": projection_plot(latest.projection or {}, version=latest.version) if latest else None,
        "train_requested_at": model.train_requested_at,
        "grid": clusters.GRID,
    }
