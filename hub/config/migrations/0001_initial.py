from django.db import migrations, models

# A new token for every statement that changes a tracked table (insert, update, delete, truncate),
# written in that statement's transaction: it becomes visible exactly when the change does, and a
# rollback takes it back with the change. Random rather than a counter, so a table emptied and
# filled again (a test database flushed) never repeats a token a process has cached.
CHANGED = """
CREATE FUNCTION hub_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hub_config_version (id, token, changed_at) VALUES (1, gen_random_uuid(), clock_timestamp())
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END
$$;
INSERT INTO hub_config_version (id, token, changed_at) VALUES (1, gen_random_uuid(), clock_timestamp());
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="ConfigVersion",
            fields=[
                ("id", models.SmallIntegerField(primary_key=True, serialize=False)),
                ("token", models.UUIDField()),
                ("changed_at", models.DateTimeField()),
            ],
            options={"db_table": "hub_config_version"},
        ),
        migrations.RunSQL(CHANGED, "DROP FUNCTION hub_config_changed();"),
    ]
