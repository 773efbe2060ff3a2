"""Admin pages for consent analytics (server-rendered SVG charts beside their numbers) and the
record of processing activities (HTML and CSV). Routed by `hub.admin_site`.

Analytics needs `consent.view_consentstate`; the record of processing `consent.view_purpose`.
The charts are plain SVG primitives computed here and drawn by a template: no JavaScript and
nothing loaded from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from consent.analytics import (
    PERIODS,
    DecisionCounts,
    NoticeVersionRow,
    Period,
    PurposeSeries,
    consent_by_notice_version,
    decisions_over_time,
    gpc_share,
)
from consent.legal_records import (
    legal_records_overview as legal_records_overview,  # the index panel (hub.admin_site)
)
from consent.recipients import registry_recipients, transfer_statement
from consent.ropa import ropa_build, ropa_csv

ANALYTICS_PERMISSION = "consent.view_consentstate"
ROPA_PERMISSION = "consent.view_purpose"
RECIPIENTS_PERMISSION = "consent.view_service"
DEFAULT_DAYS: dict[str, int] = {"day": 30, "week": 182}
MAX_DAYS = 731
COLOURS = {"given": "#2e7d32", "refused": "#9e9e9e", "withdrawn": "#b00020", "rate": "#1565c0"}


# --- SVG primitives ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Line:
    points: str
    colour: str
    dashed: bool = False


@dataclass
class Chart:
    id: str
    title: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    markers: list[Rect] = field(default_factory=list)  # drawn last, over bars and lines


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def decisions_chart(series: PurposeSeries, period: Period) -> Chart:
    """Stacked bars of given / refused / withdrawn per period (left axis, counts) and the opt-in
    rate as a line (right axis, 0–100%)."""
    width, height, left, right, top, bottom = 460, 200, 36, 40, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    chart = Chart(f"chart-{series.purpose}", f"{series.name}: consent decisions per {period}", width, height)
    peak = max([c.decisions for _, c in series.periods] + [1])
    slot = plot_w / max(len(series.periods), 1)
    bar = max(slot * 0.7, 1.0)
    rate_points = []
    for i, (start, counts) in enumerate(series.periods):
        x, base = left + i * slot + (slot - bar) / 2, top + plot_h
        for status in ("given", "refused", "withdrawn"):
            n = getattr(counts, status)
            if n:
                h = plot_h * n / peak
                base -= h
                chart.rects.append(Rect(x, base, bar, h, COLOURS[status], f"{start}: {n} {status}"))
        if counts.opt_in_rate is not None:
            cx, cy = x + bar / 2, top + plot_h * (1 - counts.opt_in_rate)
            rate_points.append(f"{cx:.1f},{cy:.1f}")
            label = f"{start}: opt-in rate {_pct(counts.opt_in_rate)}"
            chart.markers.append(Rect(cx - 3, cy - 3, 6, 6, COLOURS["rate"], label))
    if rate_points:
        chart.lines.append(Line(" ".join(rate_points), COLOURS["rate"]))
    chart.lines.append(Line(f"{left},{top + plot_h} {left + plot_w},{top + plot_h}", "#666"))
    chart.texts += [
        Text(left - 4, top + 10, str(peak), "end"),
        Text(left - 4, top + plot_h, "0", "end"),
        Text(width - right + 4, top + 10, "100%", "start"),
        Text(width - right + 4, top + plot_h, "0%", "start"),
    ]
    every = max(1, len(series.periods) // 6)
    for i, (start, _) in enumerate(series.periods):
        if i % every == 0:
            chart.texts.append(Text(left + i * slot + slot / 2, height - 12, start.strftime("%m-%d")))
    return chart


def notice_chart(rows: list[NoticeVersionRow]) -> Chart:
    """One horizontal bar per (notice version, purpose): the share of current states that are given."""
    left, bar_h, gap, width = 170, 16, 6, 460
    height = max(len(rows), 1) * (bar_h + gap) + 20
    chart = Chart("chart-notices", "Consent given, by notice version and purpose", width, height)
    plot_w = width - left - 60
    for i, row in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        version = "no notice" if row.notice_version is None else f"v{row.notice_version}"
        chart.texts.append(Text(left - 6, y + bar_h - 4, f"{version} · {row.purpose}", "end"))
        chart.rects.append(Rect(left, y, plot_w, bar_h, "#eeeeee", f"{row.total} states"))
        rate = row.opt_in_rate or 0.0
        chart.rects.append(
            Rect(left, y, plot_w * rate, bar_h, COLOURS["given"], f"{row.given} of {row.total} given")
        )
        chart.texts.append(Text(left + plot_w + 6, y + bar_h - 4, _pct(row.opt_in_rate), "start"))
    return chart


def gpc_chart(subjects_gpc: int, subjects: int) -> Chart:
    width, left, plot_w = 460, 10, 380
    chart = Chart("chart-gpc", "Share of subjects opted out by Global Privacy Control", width, 44)
    share = subjects_gpc / subjects if subjects else 0.0
    chart.rects.append(Rect(left, 10, plot_w, 20, "#eeeeee", f"{subjects} subjects with decisions"))
    chart.rects.append(
        Rect(left, 10, plot_w * share, 20, COLOURS["rate"], f"{subjects_gpc} opted out by GPC")
    )
    chart.texts.append(Text(left + plot_w + 8, 25, _pct(share if subjects else None), "start"))
    return chart


# --- pages -------------------------------------------------------------------------------------
def _window(request: HttpRequest) -> tuple[Period, int]:
    raw_period = request.GET.get("period", "week")
    period: Period = "day" if raw_period == "day" else "week"
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS[period]))
    except ValueError:
        days = DEFAULT_DAYS[period]
    return period, min(max(days, 1), MAX_DAYS)


def _rows(series: PurposeSeries) -> list[tuple[date, DecisionCounts, str, str]]:
    return [(start, c, _pct(c.opt_in_rate), _pct(c.withdrawal_rate)) for start, c in series.periods]


def analytics_page(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ANALYTICS_PERMISSION):
        raise PermissionDenied
    period, days = _window(request)
    now = timezone.now()
    since = now - timedelta(days=days)
    series = decisions_over_time(period=period, since=since, until=now)
    notices = consent_by_notice_version()
    gpc = gpc_share(since=since, until=now)
    context = {
        **site.each_context(request),
        "title": "Consent analytics",
        "period": period,
        "days": days,
        "periods": PERIODS,
        "since": since,
        "purposes": [
            {
                "series": s,
                "chart": decisions_chart(s, period),
                "rows": _rows(s),
                "opt_in_rate": _pct(s.total.opt_in_rate),
                "withdrawal_rate": _pct(s.total.withdrawal_rate),
            }
            for s in series
        ],  # fmt: skip
        "notices": [(row, _pct(row.opt_in_rate)) for row in notices],
        "notice_chart": notice_chart(notices) if notices else None,
        "gpc": gpc,
        "gpc_share": _pct(gpc.share),
        "gpc_chart": gpc_chart(gpc.subjects_gpc, gpc.subjects_with_decisions),
        "colours": COLOURS,
    }
    return TemplateResponse(request, "admin/hub/analytics.html", context)


def ropa_page(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ROPA_PERMISSION):
        raise PermissionDenied
    context = {**site.each_context(request), "title": "Record of processing activities", "ropa": ropa_build()}
    return TemplateResponse(request, "admin/hub/ropa.html", context)


def ropa_csv_download(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ROPA_PERMISSION):
        raise PermissionDenied
    response = HttpResponse(ropa_csv(ropa_build()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="record-of-processing-activities.csv"'
    return response


def recipients_page(site: AdminSite, request: HttpRequest) -> HttpResponse:
    """The recipients registry: every service and connector with its role, country and transfer
    safeguard, those that need classifying first (GDPR Art. 28, 30(1)(d)-(e), 44-49; CCPA)."""
    if not request.user.has_perm(RECIPIENTS_PERMISSION):
        raise PermissionDenied
    rows = sorted(registry_recipients(), key=lambda r: (not r.needs_classifying, r.kind, r.name.lower()))
    context = {
        **site.each_context(request),
        "title": "Recipients and transfers",
        "rows": [(r, transfer_statement(r)) for r in rows],
        "to_classify": sum(1 for r in rows if r.needs_classifying),
    }
    return TemplateResponse(request, "admin/hub/recipients.html", context)
