"""Every price applies from an instant: an existing quote from its date (midnight UTC)."""

from datetime import UTC, datetime, time

from django.db import migrations, models


def from_as_of(apps, schema_editor):
    PricePoint = apps.get_model("costs", "PricePoint")
    for point in PricePoint.objects.filter(valid_from__isnull=True).only("id", "as_of"):
        PricePoint.objects.filter(pk=point.pk).update(valid_from=datetime.combine(point.as_of, time.min, tzinfo=UTC))


class Migration(migrations.Migration):
    dependencies = [("costs", "0003_usage_ledger_budgets_and_scoped_prices")]

    operations = [
        migrations.RunPython(from_as_of, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="pricepoint",
            name="valid_from",
            field=models.DateTimeField(help_text="The first instant the price applies"),
        ),
        migrations.AlterField(
            model_name="cpuprice",
            name="valid_from",
            field=models.DateTimeField(help_text="The first instant the price applies"),
        ),
    ]
