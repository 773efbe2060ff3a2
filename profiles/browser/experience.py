"""Which banner a visitor gets: the experience of the regime that applies to them.

Opt-in regimes (GDPR/ePrivacy, and the fail-closed default) get the consent banner; opt-out regimes
(US states) get a notice at collection with "Do Not Sell or Share" and, where the service has
sensitive purposes and the rule offers it, "Limit the Use of My Sensitive Personal Information".
The regime is the consent boundary's: the operator's trusted jurisdiction signal, made stricter by
any claim; a claim alone never makes it laxer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request

from consent.jurisdiction import jurisdiction_claimed, jurisdiction_rules, trusted_jurisdiction


def experience_for(request: HttpRequest | Request, *, claim: str = "") -> dict[str, Any]:
    """{"jurisdiction", "regime" ("opt_in" | "opt_out"), "do_not_sell", "limit_sensitive", "gpc_honoured"}."""
    rules = jurisdiction_rules()
    trusted = trusted_jurisdiction(request)
    code = (
        jurisdiction_claimed(current=trusted if trusted in rules else "", claim=claim, rules=rules)
        or "default"
    )
    rule = rules.get(code) or rules.get("default")
    opt_in = rule is None or rule.opt_in_required
    return {
        "jurisdiction": code,
        "regime": "opt_in" if opt_in else "opt_out",
        "do_not_sell": not opt_in,
        "limit_sensitive": bool(rule and not opt_in and rule.limit_sensitive),
        "gpc_honoured": rule is None or rule.honours_gpc,
    }
