# A BRIN index on the ledger's recorded_at (segment fills find a time window's subjects with it).
# Built CONCURRENTLY: the ledger is the write path, and a plain CREATE INDEX would block appends
# for as long as the build scans the table.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0004_roles"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ledgerevent",
            index=django.contrib.postgres.indexes.BrinIndex(fields=["recorded_at"], name="ledger_recorded_brin"),
        ),
    ]
