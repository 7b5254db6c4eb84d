"""Allocation now belongs to the admission app; its table stays (see admission 0001)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('quotas', '0001_initial'),
        ('admission', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name='Allocation')],
        ),
    ]
