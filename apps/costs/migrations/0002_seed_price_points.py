"""Seed the dated price points from shared/reference/accelerators.md (rows in price_seed).

Each row is looked up by its catalog model's name; a row whose model is not in the catalog
is skipped, and so is one already there (same model, class, date and offer). Reversing
deletes exactly the seeded rows.
"""

from django.db import migrations

from apps.costs.price_seed import PRICE_POINTS


def _key(row):
    return (row["accelerator_model"], row["pricing_class"], row["as_of"], row["offer"])


def seed_price_points(apps, schema_editor):
    AcceleratorModel = apps.get_model("inventory", "AcceleratorModel")
    PricePoint = apps.get_model("costs", "PricePoint")
    db = schema_editor.connection.alias
    names = {row["accelerator_model"] for row in PRICE_POINTS}
    models = {model.name: model for model in AcceleratorModel.objects.using(db).filter(name__in=names)}
    existing = set(
        PricePoint.objects.using(db)
        .filter(accelerator_model__name__in=names)
        .values_list("accelerator_model__name", "pricing_class", "as_of", "offer")
    )
    PricePoint.objects.using(db).bulk_create(
        [
            PricePoint(**{**row, "accelerator_model": models[row["accelerator_model"]]})
            for row in PRICE_POINTS
            if row["accelerator_model"] in models and _key(row) not in existing
        ]
    )


def unseed_price_points(apps, schema_editor):
    PricePoint = apps.get_model("costs", "PricePoint")
    db = schema_editor.connection.alias
    for row in PRICE_POINTS:
        PricePoint.objects.using(db).filter(
            accelerator_model__name=row["accelerator_model"],
            pricing_class=row["pricing_class"],
            as_of=row["as_of"],
            offer=row["offer"],
            price_per_gpu_hour=row["price_per_gpu_hour"],
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0001_initial"),
        ("inventory", "0004_seed_catalog"),
    ]

    operations = [
        migrations.RunPython(seed_price_points, unseed_price_points),
    ]
