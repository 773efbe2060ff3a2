"""The portal's pages: views translate HTTP, services decide, selectors read.

Every page is server-rendered and works without JavaScript; every form posts with a CSRF token.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import Actor
from consent.decisions import Context, consent_record, notice_for
from consent.domain import gpc_header_opts_out
from consent.jurisdiction import trusted_jurisdiction
from consent.models import DecisionMethod, DecisionSource, Purpose
from hub.errors import DomainError
from hub.ratelimit.services import rate_key, rate_limit_allow
from profiles.identity.subjects import identifier_normalize
from profiles.portal.decorators import PortalVisit, portal_headers, portal_page
from profiles.portal.forms import (
    DETAIL_FIELDS,
    REQUEST_FORMS,
    REQUEST_TEXTS,
    ConsentChoiceForm,
    HumanReviewForm,
    IdentifierUnlinkForm,
    ObjectionForm,
    ProfilingObjectionForm,
    RequestForm,
    SignInForm,
)
from profiles.portal.labels import REQUEST_LABELS
from profiles.portal.optout_forms import OptOutForm
from profiles.portal.selectors import (
    consent_page,
    consent_receipt,
    data_page,
    identifier_rows,
    objectable_purposes,
    portal_cases,
    trait_names,
)
from profiles.portal.services import (
    InvalidSignInLink,
    portal_identifier_unlink,
    portal_session_close,
    portal_session_identifier,
    portal_sign_in,
    sign_in_link_check,
    sign_in_link_request,
)
from profiles.requests.domain import Channel, Status
from profiles.requests.human_review import reviewable_decisions
from profiles.requests.models import PrivacyRequest
from profiles.requests.optout import OptOutKind, optout_gpc_device, optout_portal
from profiles.requests.profiling_objection import profiling_objection_file
from profiles.requests.services import request_submit


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    controller = {
        "name": settings.HUB_CONTROLLER_NAME,
        "contact": settings.HUB_CONTROLLER_CONTACT,
        "authority": settings.HUB_SUPERVISORY_AUTHORITY,
    }
    return render(request, template, {"controller": controller, **context}, status=status)


def _language() -> str:
    return (translation.get_language() or settings.LANGUAGE_CODE)[:8]


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a header any client can write must not pick its own bucket
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _too_many(request: HttpRequest, visit: PortalVisit | None = None) -> HttpResponse:
    minutes = max(1, settings.HUB_PORTAL_RATE_WINDOW_SECONDS // 60)
    context = {"minutes": minutes, "visit": visit}
    response = _render(request, "portal/rate_limited.html", context, status=429)
    response["Retry-After"] = str(settings.HUB_PORTAL_RATE_WINDOW_SECONDS)
    return response


# --- signing in and out --------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@portal_headers
def sign_in(request: HttpRequest) -> HttpResponse:
    """Ask for a link by email. The answer never says whether the address is known."""
    if request.method != "POST":
        return _render(request, "portal/sign_in.html", {"form": SignInForm()})
    form = SignInForm(request.POST)
    email = ""
    if form.is_valid():
        try:
            email = identifier_normalize("email", form.cleaned_data["email"])
        except DomainError:
            form.add_error("email", _("Enter a valid email address."))
    if not email:
        return _render(request, "portal/sign_in.html", {"form": form}, status=400)
    keys = [
        rate_key(scope="sign_in", kind="ip", value=_client_ip(request)),
        rate_key(scope="sign_in", kind="email", value=email),
    ]
    if not rate_limit_allow(keys=keys):
        return _too_many(request)
    sign_in_link_request(email=email)
    return _render(request, "portal/sign_in_sent.html", {"minutes": settings.HUB_PORTAL_LINK_MINUTES})


@require_http_methods(["GET", "POST"])
@portal_headers
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: GET shows a button (mail scanners follow links), POST signs in."""
    try:
        if request.method == "POST":
            portal_sign_in(token=token, session=request.session)
            return redirect("portal:consent")
        sign_in_link_check(token=token)
    except InvalidSignInLink:
        return _render(request, "portal/sign_in_link.html", {"state": "invalid"}, status=404)
    return _render(request, "portal/sign_in_link.html", {"state": "confirm"})


@require_POST
@portal_headers
def sign_out(request: HttpRequest) -> HttpResponse:
    portal_session_close(session=request.session)
    messages.info(request, _("You are signed out."))
    return redirect("portal:sign_in")


def home(request: HttpRequest) -> HttpResponse:
    return redirect("portal:consent")


# --- consent -------------------------------------------------------------------------------------
def _consent_response(
    request: HttpRequest, visit: PortalVisit, *, error: str = "", status: int = 200
) -> HttpResponse:
    page = consent_page(subject=visit.subject, gpc=visit.gpc, language=_language())
    context = {"page": page, "visit": visit, "error": error, "current": "consent"}
    return _render(request, "portal/consent.html", context, status=status)


def _gpc_covers(purpose: str) -> bool:
    return Purpose.objects.filter(key=purpose, gpc_applies=True).exists()


@require_GET
@portal_page
def consent(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    return _consent_response(request, visit)


@require_POST
@portal_page
def consent_choice(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    """Grant or withdraw one purpose: one button, the same single action both ways."""
    form = ConsentChoiceForm(request.POST)
    if not form.is_valid():
        return _consent_response(request, visit, error=_("That choice could not be read."), status=400)
    choice = form.cleaned_data
    notice = notice_for(language=_language(), jurisdiction=visit.subject.jurisdiction)
    shown = choice["notice_version"]  # the notice the page rendered: the decision is made on it
    if notice is not None and shown not in (None, notice.version):
        message = _("Our privacy notice changed while you were reading it. Please read it again and choose.")
        return _consent_response(request, visit, error=message, status=409)
    if choice["granted"] and visit.gpc and _gpc_covers(choice["purpose"]):
        message = _(
            "Your browser sends a Global Privacy Control signal, which asks us not to sell or share your "
            "data, so we cannot turn this on. Switch the signal off in your browser first if you want to."
        )
        return _consent_response(request, visit, error=message, status=409)
    context = Context(
        source=DecisionSource.PORTAL,
        method=DecisionMethod.CLICK,
        language=_language(),
        jurisdiction=visit.subject.jurisdiction,
    )
    try:
        consent_record(
            subject_id=visit.subject.id,
            decisions={choice["purpose"]: choice["granted"]},
            actor=visit.actor,
            context=context,
            notice_version=shown,
        )
    except DomainError as error:
        return _consent_response(request, visit, error=error.message, status=error.status)
    if choice["granted"]:
        messages.success(request, _("Thank you: your consent is recorded."))
    else:
        messages.success(request, _("Done: your consent is withdrawn. We stopped using your data for this."))
    return redirect(f"{reverse('portal:consent')}#purpose-{choice['purpose']}")


@require_GET
@portal_page
def receipt(request: HttpRequest, visit: PortalVisit, decision_id: uuid.UUID) -> HttpResponse:
    """The signed receipt of one of the subject's own decisions, as a JSON download."""
    signed = consent_receipt(subject_ids=visit.subject.subject_ids, decision_event_id=decision_id)
    if signed is None:
        return _render(request, "portal/not_found.html", {"visit": visit}, status=404)
    response = JsonResponse(signed, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{decision_id}.json"'
    return response


# --- my data -------------------------------------------------------------------------------------
def _data_response(
    request: HttpRequest, visit: PortalVisit, *, error: str = "", status: int = 200
) -> HttpResponse:
    page = data_page(subject=visit.subject)
    identifiers = identifier_rows(
        subject=visit.subject, signed_in_with=portal_session_identifier(session=request.session)
    )
    context = {"page": page, "identifiers": identifiers, "visit": visit, "current": "data", "error": error}
    return _render(request, "portal/data.html", context, status=status)


@require_GET
@portal_page
def data(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    return _data_response(request, visit)


@require_POST
@portal_page
def identifier_unlink(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    """Remove one of the person's email addresses or phone numbers (a ledger event)."""
    form = IdentifierUnlinkForm(request.POST)
    if not form.is_valid():
        return _data_response(request, visit, error=_("That choice could not be read."), status=400)
    try:
        portal_identifier_unlink(
            session=request.session, subject_ids=visit.subject.subject_ids,
            identifier_id=form.cleaned_data["identifier"], actor=visit.actor,
        )  # fmt: skip
    except DomainError as error:
        return _data_response(request, visit, error=error.message, status=error.status)
    messages.success(request, _("Done: we no longer know you by that identifier."))
    return redirect(f"{reverse('portal:data')}#identifiers-title")


@require_POST
@portal_page
def profiling_objection(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    """ "Object to this profiling" (Art. 21): out of the cluster model at once, as an objection case."""
    form = ProfilingObjectionForm(request.POST)
    if not form.is_valid():
        return _data_response(request, visit, error=_("That choice could not be read."), status=400)
    keys = [
        rate_key(scope="request", kind="ip", value=_client_ip(request)),
        rate_key(scope="request", kind="subject", value=str(visit.subject.id)),
    ]
    if not rate_limit_allow(keys=keys):
        return _too_many(request, visit)
    try:
        profiling_objection_file(
            subject_id=visit.subject.id, segment_key=form.cleaned_data["segment"], actor=visit.actor
        )
    except DomainError as error:
        return _data_response(request, visit, error=error.message, status=error.status)
    messages.success(
        request,
        _(
            "Done: we no longer group you with this model, and it will leave you out when it is trained again. "
            "Your objection is on My requests."
        ),
    )
    return redirect(f"{reverse('portal:data')}#clusters-title")


# --- requests ------------------------------------------------------------------------------------
def _request_form(kind: str, data: Any = None, *, visit: PortalVisit) -> RequestForm:
    form_class = REQUEST_FORMS[kind]
    if form_class is ObjectionForm:
        choices = [(p.key, p.name) for p in objectable_purposes()]
        return ObjectionForm(data, prefix=kind, purposes=choices)
    if form_class is HumanReviewForm:
        return HumanReviewForm(data, prefix=kind, choices=review_choices(visit.subject.subject_ids))
    return form_class(data, prefix=kind)


def review_choices(subject_ids: list[uuid.UUID]) -> list[tuple[str, str]]:
    words = {"segment": _("Segment: %(name)s"), "score": _("Score: %(name)s (%(purpose)s)")}
    return [
        (item["value"], words[item["kind"]] % {"name": item["name"], "purpose": item.get("purpose", "")})
        for item in reviewable_decisions(subject_ids)
    ]


def _request_submit(visit: PortalVisit, kind: str, form: RequestForm) -> PrivacyRequest | None:
    """File the request from a valid form; a refusal lands on the form as an error."""
    try:
        case = request_submit(
            kind=kind,
            subject_id=visit.subject.id,
            channel=Channel.PORTAL,
            actor=visit.actor,
            vouched=True,  # signed in through a one-time link: one data point (the tier may ask for a fresh one)
            details=form.details(),
        )
    except DomainError as error:
        field = DETAIL_FIELDS.get(error.field or "")
        form.add_error(field if field in form.fields else None, error.message)
        return None
    return case


@require_http_methods(["GET", "POST"])
@portal_page
def requests(request: HttpRequest, visit: PortalVisit) -> HttpResponse:
    forms = {kind: _request_form(kind, visit=visit) for kind in REQUEST_FORMS}
    status, invalid = 200, ""
    if request.method == "POST":
        kind = str(request.POST.get("type", ""))
        if kind not in REQUEST_FORMS:
            return HttpResponse(_("Unknown request type."), status=400, content_type="text/plain")
        keys = [
            rate_key(scope="request", kind="ip", value=_client_ip(request)),
            rate_key(scope="request", kind="subject", value=str(visit.subject.id)),
        ]
        if not rate_limit_allow(keys=keys):
            return _too_many(request, visit)
        form = forms[kind] = _request_form(kind, request.POST, visit=visit)
        if form.is_valid() and (case := _request_submit(visit, kind, form)) is not None:
            label = REQUEST_LABELS[kind]
            received = _("We received your request: %(kind)s.") % {"kind": label}
            if case.status == Status.RECEIVED:  # its tier asks for a fresh confirmation by email
                received += " " + _("To confirm it is you, follow the link we have just emailed you.")
            messages.success(request, received)
            return redirect(f"{reverse('portal:requests')}#case-{case.id}")
        status, invalid = 400, kind
    context = {
        "visit": visit,
        "current": "requests",
        "forms": [(kind, REQUEST_LABELS[kind], *REQUEST_TEXTS[kind], form) for kind, form in forms.items()],
        "invalid": invalid,
        "cases": portal_cases(subject=visit.subject),
        "trait_names": trait_names(subject=visit.subject),
    }
    return _render(request, "portal/requests.html", context, status=status)


# --- CCPA requests without signing in (§7026–7027: no account may be required) -----------------
OPTOUT_TEMPLATES = {
    OptOutKind.SALE_SHARE: "portal/do_not_sell.html",
    OptOutKind.LIMIT_SENSITIVE: "portal/limit_sensitive.html",
}
# nobody is signed in: the portal itself files these, on the person's word
PORTAL_ACTOR = Actor("system", "portal")
DEVICE_COOKIE = "hub_aid"  # the hub's own device id (profiles.browser.apis.ANONYMOUS_ID_COOKIE)


def _device_id(request: HttpRequest) -> str:
    """The hub's device cookie, if this browser has one on the hub's origin (a UUID, nothing else)."""
    value = request.COOKIES.get(DEVICE_COOKIE, "")
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else ""
    except ValueError:
        return ""


@require_http_methods(["GET", "POST"])
@portal_headers
def do_not_sell(request: HttpRequest) -> HttpResponse:
    """ "Do Not Sell or Share My Personal Information", with or without an address, no sign-in."""
    return _optout_page(request, OptOutKind.SALE_SHARE)


@require_http_methods(["GET", "POST"])
@portal_headers
def limit_sensitive(request: HttpRequest) -> HttpResponse:
    """ "Limit the Use of My Sensitive Personal Information", with or without an address, no sign-in."""
    return _optout_page(request, OptOutKind.LIMIT_SENSITIVE)


def _optout_page(request: HttpRequest, kind: OptOutKind) -> HttpResponse:
    """GET: the form (and `Sec-GPC: 1` opts a device the hub knows out at once, and says so).
    POST: file and apply the request, for the address or number given (the answer is the same
    whether or not it is known) and for this browser's device cookie; then confirm on screen."""
    device = _device_id(request)
    gpc = gpc_header_opts_out(request.META.get("HTTP_SEC_GPC"))
    gpc_applied = bool(gpc and device) and optout_gpc_device(anonymous_id=device, actor=PORTAL_ACTOR)
    context: dict[str, Any] = {"gpc": gpc, "gpc_applied": gpc_applied, "device": bool(device)}
    if request.method != "POST":
        return _render(request, OPTOUT_TEMPLATES[kind], {**context, "form": OptOutForm()})
    form = OptOutForm(request.POST)
    identifier = form.cleaned_data["identifier"] if form.is_valid() else None
    if form.is_valid() and identifier is None and not device:
        form.add_error(
            "identifier", _("Give an email address or phone number: this browser has no id of ours.")
        )
    if not form.is_valid():
        return _render(request, OPTOUT_TEMPLATES[kind], {**context, "form": form}, status=400)
    keys = [rate_key(scope="optout", kind="ip", value=_client_ip(request))]
    if identifier is not None:
        keys.append(rate_key(scope="optout", kind=identifier[0], value=identifier[1]))
    if not rate_limit_allow(keys=keys):
        return _too_many(request)
    identifier_kind, identifier_value = identifier or ("", "")
    optout_portal(
        kind=kind,
        identifier_kind=identifier_kind,
        identifier_value=identifier_value,
        anonymous_id=device,
        actor=PORTAL_ACTOR,
        trusted_jurisdiction=trusted_jurisdiction(request),
    )
    done = {**context, "kind": kind.value, "named": identifier is not None}
    return _render(request, "portal/optout_done.html", done)
