"""Seed the accelerator catalog from shared/reference/accelerators.md (rows in catalog_seed).

A row an operator already created under one of these names is left as it is. Reversing
deletes exactly the seeded names; accelerators that pointed at them become unrecognised.
"""

from django.db import migrations

from apps.inventory.catalog_seed import ACCELERATORS, SEEDED_NAMES


def seed_catalog(apps, schema_editor):
    AcceleratorModel = apps.get_model("inventory", "AcceleratorModel")
    db = schema_editor.connection.alias
    existing = set(AcceleratorModel.objects.using(db).filter(name__in=SEEDED_NAMES).values_list("name", flat=True))
    AcceleratorModel.objects.using(db).bulk_create(
        [AcceleratorModel(**row) for row in ACCELERATORS if row["name"] not in existing]
    )


def unseed_catalog(apps, schema_editor):
    AcceleratorModel = apps.get_model("inventory", "AcceleratorModel")
    AcceleratorModel.objects.using(schema_editor.connection.alias).filter(name__in=SEEDED_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0003_acceleratormodel_cluster_last_discovered_at_and_more"),
    ]

    operations = [
        migrations.RunPython(seed_catalog, unseed_catalog),
    ]
