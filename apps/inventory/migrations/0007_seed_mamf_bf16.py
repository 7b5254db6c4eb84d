"""Fill the catalog's measured BF16 matmul ceiling (MAMF) from shared/reference/planner.md §6.5.

The figures are mamf-finder.py measurements collected in stas00/ml-engineering
(compute/accelerator/README.md). The reference gives one "A100 SXM" figure, used for both
SXM memory sizes, and says H200 SXM is "same as H100". Models without a measurement stay
null. A value an operator has already entered is left as it is; reversing clears only
values that are still the seeded ones.
"""

from django.db import migrations

MAMF_BF16_TFLOPS = {
    "A100 40GB SXM": 271.2,
    "A100 80GB SXM": 271.2,
    "H100 SXM": 794.5,
    "H200 SXM": 794.5,
    "B200": 1745.0,
    "MI300X": 668.4,
}


def seed_mamf(apps, schema_editor):
    AcceleratorModel = apps.get_model("inventory", "AcceleratorModel")
    models = AcceleratorModel.objects.using(schema_editor.connection.alias)
    for name, tflops in MAMF_BF16_TFLOPS.items():
        models.filter(name=name, mamf_bf16_tflops__isnull=True).update(mamf_bf16_tflops=tflops)


def unseed_mamf(apps, schema_editor):
    AcceleratorModel = apps.get_model("inventory", "AcceleratorModel")
    models = AcceleratorModel.objects.using(schema_editor.connection.alias)
    for name, tflops in MAMF_BF16_TFLOPS.items():
        models.filter(name=name, mamf_bf16_tflops=tflops).update(mamf_bf16_tflops=None)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0006_acceleratormodel_mamf_bf16_tflops"),
    ]

    operations = [
        migrations.RunPython(seed_mamf, unseed_mamf),
    ]
