"""Which banner a visitor gets: the experience of the regime that applies to them.

Opt-in regimes (GDPR/ePrivacy, and the fail-closed default) get the consent banner; opt-out regimes
(US states) get a notice at collection with "Do Not Sell or Share" and, where the service has
sensitive purposes and the rule offers it, "Limit the Use of My Sensitive Personal Information".
The regime is the consent boundary's: the operator's trusted jurisdiction signal, made stricter by
any claim; a claim alone never makes it laxer (`consent.jurisdiction`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request

from consent.authentication import service_purposes
from consent.jurisdiction import DEFAULT, jurisdiction_claimed, jurisdiction_rules, trusted_jurisdiction
from consent.models import Service
from profiles.requests.objection import sensitive_purposes


def experience_for(
    request: HttpRequest | Request, *, claim: str = "", service: Service | None = None
) -> dict[str, Any]:
    """{"jurisdiction", "regime" ("opt_in" | "opt_out"), "do_not_sell", "limit_sensitive", "gpc_honoured"}.

    `claim` is the page's own (`?jurisdiction=`): it can make the regime stricter only. With no
    trusted signal and no rule for the place, the "default" rule applies, and with no rule at all
    the banner asks first (opt-in). "Limit" is offered only where the rule has it and `service` is
    registered for a purpose that uses sensitive personal information (none given: not offered).
    """
    rules = jurisdiction_rules()
    trusted = trusted_jurisdiction(request)
    start = trusted if trusted in rules else ""
    code = jurisdiction_claimed(current=start, claim=claim, rules=rules) or DEFAULT
    rule = rules.get(code) or rules.get(DEFAULT)
    opt_in = rule is None or rule.opt_in_required
    limit = bool(rule and not opt_in and rule.limit_sensitive) and _has_sensitive(service)
    return {
        "jurisdiction": code,
        "regime": "opt_in" if opt_in else "opt_out",
        "do_not_sell": not opt_in,
        "limit_sensitive": limit,
        "gpc_honoured": rule is None or rule.honours_gpc,
    }


def _has_sensitive(service: Service | None) -> bool:
    return service is not None and bool(set(sensitive_purposes()) & service_purposes(service))
