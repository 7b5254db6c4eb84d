"""Allocation moves from quotas to admission: the table stays ``quotas_allocation``, only
Django's idea of which app owns it changes (no SQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('inventory', '0009_cluster_allowed_teams_and_trusted_network'),
        ('jobs', '0008_attempt_log_in_chunks_from_remote_offset'),
        ('quotas', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
        migrations.CreateModel(
            name='Allocation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('released_at', models.DateTimeField(blank=True, null=True)),
                ('accelerator', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='inventory.accelerator')),
                ('attempt', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='jobs.attempt')),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='jobs.job')),
                ('node', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='inventory.node')),
            ],
            options={
                'db_table': 'quotas_allocation',
                'ordering': ['-created_at'],
                'indexes': [models.Index(condition=models.Q(('released_at__isnull', True)), fields=['job'], name='allocation_active_job')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('released_at__isnull', True)), fields=('accelerator',), name='allocation_one_holder_per_gpu')],
            },
        ),
            ],
        ),
    ]
