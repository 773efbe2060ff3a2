"""The read-replica router (hub/db_router.py) without a replica server: where writes, migrations and
reads that must see the caller's own writes go. The replica itself: tests/e2e/test_read_replica.py."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from hub.db_router import PRIMARY, REPLICA, PrimaryReplicaRouter, read_alias, replica_read
from hub.metrics import exposition
from profiles.identity.models import Subject
from profiles.models import ProfileField
from tests.factories import person_consenting


def _own_write_fallbacks() -> float:
    text = exposition().decode()
    found = re.search(r'^hub_db_replica_fallback_total\{reason="own_write"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_writes_and_migrations_only_ever_go_to_the_primary() -> None:
    router = PrimaryReplicaRouter()
    assert router.db_for_write(ProfileField) == PRIMARY
    # even for an object read from the replica
    assert router.db_for_write(ProfileField, instance=ProfileField(), using=REPLICA) == PRIMARY
    assert router.allow_migrate(PRIMARY, "profiles") is True
    assert router.allow_migrate(REPLICA, "profiles") is False
    assert router.db_for_read(ProfileField) is None  # reads go where the read site chose


@pytest.mark.django_db
def test_without_a_replica_every_read_is_on_the_primary(settings) -> None:
    assert "replica" not in settings.DATABASES
    assert read_alias() == PRIMARY
    assert replica_read(lambda alias: alias) == PRIMARY


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")  # only the router reads the alias list
def test_a_read_inside_the_callers_transaction_stays_on_the_primary(purposes, settings) -> None:
    """A caller that wrote in its open transaction must see its write: the replica has not got it."""
    settings.DATABASES = {**settings.DATABASES, REPLICA: dict(settings.DATABASES[PRIMARY])}
    before = _own_write_fallbacks()
    subject = person_consenting("router-own-write", "personalization")  # written, not yet committed
    assert connection.in_atomic_block
    seen = replica_read(lambda alias: (alias, Subject.objects.using(alias).filter(pk=subject.pk).exists()))
    assert seen == (PRIMARY, True)  # its own uncommitted write, seen
    assert _own_write_fallbacks() == before + 1
