"""Invariant 16 (M1, M3): only the fields a policy names are kept, transformed; the rest is named as dropped."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection

from consent.minimization import FieldRule, Minimized, minimize, policy_for
from consent.models import PolicyField, Purpose, Transformation
from hub.crypto import decode_secret
from tests.factories import minimization_policy

BROWSING = "user.behavior.browsing_history"
DEVICE = "user.device.ip_address"


def rule(name: str, transformation: str = Transformation.KEEP, category: str = BROWSING) -> FieldRule:
    return FieldRule(name=name, category=category, transformation=transformation)


def kept_value(value: Any, transformation: str) -> Minimized:
    return minimize({"value": value}, [rule("value", transformation)])


# --- pure: no database ----------------------------------------------------------------------
def test_only_listed_nested_fields_are_kept_and_the_rest_is_named_as_dropped():
    # given a document with nested properties and context
    document = {
        "event": "Product Viewed",
        "properties": {"sku": "SKU-1", "price": 12.5, "name": "Blue shoes"},
        "context": {"ip": "203.0.113.77", "user_agent": "Mozilla/5.0"},
    }
    # when a policy keeps properties.sku and a truncated context.ip
    result = minimize(
        document,
        [rule("properties.sku"), rule("context.ip", Transformation.TRUNCATE_IP, DEVICE)],
    )
    # then exactly those are kept, nested, and every other field is named as dropped
    assert result.kept == {"properties": {"sku": "SKU-1"}, "context": {"ip": "203.0.113.0"}}
    assert result.dropped == ("context.user_agent", "event", "properties.name", "properties.price")
    assert result.categories == tuple(sorted({BROWSING, DEVICE}))


def test_no_rules_keep_nothing():
    result = minimize({"properties": {"sku": "SKU-1"}, "email": "a@example.org"}, [])
    assert result == Minimized(kept={}, dropped=("email", "properties.sku"), categories=())


def test_dropped_names_fields_never_values():
    secret = "alice.secret@example.org"
    result = minimize(
        {"email": secret, "context": {"ip": secret}, "properties": {"note": secret}},
        [rule("context.ip", Transformation.TRUNCATE_IP)],  # cannot truncate an email: dropped
    )
    assert result.kept == {}
    assert result.dropped == ("context.ip", "email", "properties.note")
    assert secret not in json.dumps([result.dropped, result.categories])


def test_a_rule_for_a_missing_field_keeps_and_drops_nothing():
    result = minimize({"properties": {}}, [rule("properties.sku"), rule("context.ip")])
    assert result == Minimized(kept={}, dropped=(), categories=())


def test_a_whole_subtree_can_be_kept_and_is_copied_not_shared():
    document = {"properties": {"sku": "SKU-1", "tags": ["a", "b"]}, "other": 1}
    result = minimize(document, [rule("properties")])
    assert result.kept == {"properties": {"sku": "SKU-1", "tags": ["a", "b"]}}
    result.kept["properties"]["tags"].append("c")
    assert document["properties"]["tags"] == ["a", "b"]
    assert result.dropped == ("other",)


def test_a_narrower_rule_decides_its_own_field_inside_a_kept_subtree():
    document = {"context": {"ip": "198.51.100.9", "locale": "fr-FR"}}
    keep_context = rule("context", category="user.device")
    # a transformed sub-field overrides the broader "keep as sent"
    result = minimize(document, [rule("context.ip", Transformation.TRUNCATE_IP, DEVICE), keep_context])
    assert result.kept == {"context": {"ip": "198.51.100.0", "locale": "fr-FR"}}
    assert result.dropped == ()
    # and a sub-field its transformation cannot handle is dropped, not kept raw by the broader rule
    result = minimize(
        {"context": {"ip": "not-an-ip", "locale": "fr-FR"}},
        [keep_context, rule("context.ip", Transformation.TRUNCATE_IP, DEVICE)],
    )
    assert result.kept == {"context": {"locale": "fr-FR"}}
    assert result.dropped == ("context.ip",)


def test_a_path_through_a_non_mapping_does_not_match():
    result = minimize(
        {"properties": "flat", "items": [{"sku": 1}]}, [rule("properties.sku"), rule("items.sku")]
    )
    assert result.kept == {}
    assert result.dropped == ("items", "properties")


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("192.168.1.77", "192.168.1.0"),
        ("10.0.0.255", "10.0.0.0"),
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::"),
        ("2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
    ],
)
def test_truncate_ip_keeps_the_ipv4_slash_24_and_the_ipv6_slash_48(ip, truncated):
    result = kept_value(ip, Transformation.TRUNCATE_IP)
    assert result.kept == {"value": truncated}
    assert result.dropped == ()


@pytest.mark.parametrize(
    "bad", ["not-an-ip", "203.0.113.77:8080", "203.0.113.0/24", 3405803853, None, ["1.2.3.4"]]
)
def test_truncate_ip_drops_what_is_not_an_address(bad):
    assert kept_value(bad, Transformation.TRUNCATE_IP) == Minimized({}, ("value",), ())


def test_keyed_hash_is_an_hmac_sha256_under_the_pepper(settings):
    pepper = decode_secret(settings.HUB_IDENTIFIER_PEPPER, name="HUB_IDENTIFIER_PEPPER")
    expected = "h:" + hmac.new(pepper, b"alice@example.org", hashlib.sha256).hexdigest()
    result = minimize(
        {"traits": {"email": "alice@example.org", "user_id": 42}},
        [rule("traits.email", Transformation.KEYED_HASH), rule("traits.user_id", Transformation.KEYED_HASH)],
    )
    assert result.kept["traits"]["email"] == expected
    assert result.kept["traits"]["user_id"] == "h:" + hmac.new(pepper, b"42", hashlib.sha256).hexdigest()
    assert "alice" not in json.dumps(result.kept)
    # a plain (unkeyed) SHA-256 would be guessable by anyone: it is not what is stored
    assert expected != "h:" + hashlib.sha256(b"alice@example.org").hexdigest()


def test_keyed_hash_changes_with_the_pepper(settings):
    first = kept_value("alice@example.org", Transformation.KEYED_HASH).kept["value"]
    settings.HUB_IDENTIFIER_PEPPER = "A" * 43
    assert kept_value("alice@example.org", Transformation.KEYED_HASH).kept["value"] != first


@pytest.mark.parametrize("bad", [None, True, 1.5, ["x"]])
def test_keyed_hash_drops_values_it_cannot_hash(bad):
    assert kept_value(bad, Transformation.KEYED_HASH) == Minimized({}, ("value",), ())


def test_a_transformation_on_a_mapping_drops_each_field_under_it_by_name():
    result = kept_value({"a": 1, "b": {"c": 2}}, Transformation.KEYED_HASH)
    assert result == Minimized({}, ("value.a", "value.b.c"), ())


@pytest.mark.parametrize(
    ("value", "month", "year"),
    [
        ("2026-11-27", "2026-11", "2026"),
        ("2026-11-27T10:30:00", "2026-11", "2026"),
        ("2026-11-27T10:30:00Z", "2026-11", "2026"),
        ("2026-12-31T23:30:00-05:00", "2027-01", "2027"),  # aware times count in UTC
        ("2026-11", "2026-11", "2026"),  # already generalized: unchanged
        (date(1990, 5, 17), "1990-05", "1990"),
        (datetime(2026, 11, 27, 9, tzinfo=UTC), "2026-11", "2026"),
    ],
)
def test_month_and_year_generalize_iso_dates_and_datetimes(value, month, year):
    assert kept_value(value, Transformation.MONTH).kept == {"value": month}
    assert kept_value(value, Transformation.YEAR).kept == {"value": year}


def test_year_accepts_a_bare_year_but_month_cannot_invent_one():
    assert kept_value("1990", Transformation.YEAR).kept == {"value": "1990"}
    assert kept_value("1990", Transformation.MONTH) == Minimized({}, ("value",), ())


@pytest.mark.parametrize(
    "bad", ["27/11/2026", "2026-13-01", "2026-13", "0000-01", "yesterday", 20261127, None, True]
)
@pytest.mark.parametrize("transformation", [Transformation.MONTH, Transformation.YEAR])
def test_month_and_year_drop_what_is_not_a_date(bad, transformation):
    assert kept_value(bad, transformation) == Minimized({}, ("value",), ())


def test_an_unknown_transformation_drops_the_field():
    assert kept_value("x", "reverse") == Minimized({}, ("value",), ())


def test_minimizing_twice_changes_nothing():
    rules = [
        rule("context.ip", Transformation.TRUNCATE_IP),
        rule("traits.birthday", Transformation.MONTH),
        rule("properties.sku"),
    ]
    once = minimize(
        {"context": {"ip": "192.0.2.55"}, "traits": {"birthday": "1990-05-17"}, "properties": {"sku": 7}},
        rules,
    )
    twice = minimize(once.kept, rules)
    assert twice.kept == once.kept and twice.dropped == ()


# --- loading policies -------------------------------------------------------------------------
@pytest.mark.django_db
def test_policy_for_prefers_the_exact_event_type_over_the_wildcard(purposes, django_assert_num_queries):
    minimization_policy("analytics", "*", ("context.ip", DEVICE, Transformation.TRUNCATE_IP))
    minimization_policy(
        "analytics",
        "track:Product Viewed",
        ("properties.sku", "user.behavior.purchase_history", Transformation.KEEP),
        ("context.ip", DEVICE, Transformation.TRUNCATE_IP),
    )
    with django_assert_num_queries(2):  # the configuration's version token, then every policy at once
        rules = policy_for(purpose="analytics", event_type="track:Product Viewed")
    assert rules == [
        FieldRule("context.ip", DEVICE, Transformation.TRUNCATE_IP),
        FieldRule("properties.sku", "user.behavior.purchase_history", Transformation.KEEP),
    ]
    # other event types fall back to "*"; loaded already: only the token is read
    with django_assert_num_queries(1):
        assert policy_for(purpose="analytics", event_type="page") == [
            FieldRule("context.ip", DEVICE, Transformation.TRUNCATE_IP)
        ]


@pytest.mark.django_db
def test_a_changed_policy_applies_from_the_next_call(purposes):
    """Policies are cached per process, never past a change: whoever makes it (the admin, a
    bulk update, raw SQL), the next call sees it."""
    policy = minimization_policy("analytics", "*", ("context.ip", DEVICE, Transformation.TRUNCATE_IP))
    assert [r.name for r in policy_for(purpose="analytics", event_type="page")] == ["context.ip"]
    PolicyField.objects.filter(policy=policy).update(transformation=Transformation.YEAR)
    assert policy_for(purpose="analytics", event_type="page") == [
        FieldRule("context.ip", DEVICE, Transformation.YEAR)
    ]
    with connection.cursor() as cursor:  # behind the ORM's back
        cursor.execute("DELETE FROM consent_policyfield WHERE policy_id = %s", [policy.pk])
    assert policy_for(purpose="analytics", event_type="page") == []
    minimization_policy("analytics", "page", ("properties.sku", "user.behavior", Transformation.KEEP))
    assert [r.name for r in policy_for(purpose="analytics", event_type="page")] == ["properties.sku"]


@pytest.mark.django_db
def test_an_exact_policy_with_no_fields_keeps_nothing_and_does_not_fall_back(purposes):
    minimization_policy("analytics", "*", ("context.ip", DEVICE, Transformation.TRUNCATE_IP))
    minimization_policy("analytics", "identify")
    assert policy_for(purpose="analytics", event_type="identify") == []


@pytest.mark.django_db
def test_a_purpose_without_a_policy_keeps_nothing(purposes):
    # privacy by default: a new purpose starts with no fields allowed
    Purpose.objects.create(
        key="surveys", name="Surveys", description="Asking for feedback.", lawful_basis="consent"
    )
    minimization_policy("analytics", "*", ("properties.sku", BROWSING, Transformation.KEEP))
    assert policy_for(purpose="surveys", event_type="track:Product Viewed") == []
    assert policy_for(purpose="no-such-purpose", event_type="page") == []
    rules = policy_for(purpose="surveys", event_type="page")
    assert minimize({"properties": {"sku": 1}}, rules).kept == {}


@pytest.mark.django_db
def test_loaded_rules_minimize_a_document(purposes):
    minimization_policy(
        "analytics",
        "track:Signed Up",
        ("traits.email", "user.contact.email", Transformation.KEYED_HASH),
        ("traits.birthday", "user.demographic.date_of_birth", Transformation.YEAR),
    )
    result = minimize(
        {"traits": {"email": "bob@example.org", "birthday": "1985-02-03", "phone": "+33 6"}},
        policy_for(purpose="analytics", event_type="track:Signed Up"),
    )
    assert result.kept["traits"]["birthday"] == "1985"
    assert result.kept["traits"]["email"].startswith("h:")
    assert result.dropped == ("traits.phone",)
    assert result.categories == ("user.contact.email", "user.demographic.date_of_birth")
