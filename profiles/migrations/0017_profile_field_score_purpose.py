# A partial index on the purposes of score values (the profiling the Art. 30 record, the assessments'
# gaps and the admin index report: one probe per purpose instead of a scan of every profile value).
# Built CONCURRENTLY: profile values are the projector's write path.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("profiles", "0016_profiling_flags"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="profilefield",
            index=models.Index(
                condition=models.Q(("kind", "score")), fields=["purpose"], name="profile_field_score_purpose"
            ),
        ),
    ]
