from django.db import migrations, models

# A stored log copied before this migration holds the cluster's log from its first byte: the
# next incremental read starts after it (in UTF-8 bytes), and a log that already carries the
# truncation note is not read again.
OFFSETS_SQL = {
    "postgresql": (
        "UPDATE jobs_attempt SET log_remote_offset = octet_length(log), "
        "log_truncated = (log LIKE '%[paddock: log truncated at %') WHERE log <> ''"
    ),
    "sqlite": (
        "UPDATE jobs_attempt SET log_remote_offset = length(CAST(log AS BLOB)), "
        "log_truncated = (log LIKE '%[paddock: log truncated at %') WHERE log <> ''"
    ),
}


def offsets_of_stored_logs(apps, schema_editor):
    sql = OFFSETS_SQL.get(schema_editor.connection.vendor)
    if sql is None:
        raise RuntimeError(f"no log offset migration for database {schema_editor.connection.vendor!r}")
    schema_editor.execute(sql, None)  # no parameters: the % signs are LIKE wildcards


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_job_queued_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="log_remote_offset",
            field=models.PositiveBigIntegerField(
                default=0,
                help_text="Bytes of the cluster's log copied into the stored log so far (the next read starts there)",
            ),
        ),
        migrations.AddField(
            model_name="attempt",
            name="log_truncated",
            field=models.BooleanField(
                default=False, help_text="The stored log reached PADDOCK_LOG_MAX_BYTES: nothing more is copied"
            ),
        ),
        migrations.RunPython(offsets_of_stored_logs, migrations.RunPython.noop, elidable=True),
    ]
