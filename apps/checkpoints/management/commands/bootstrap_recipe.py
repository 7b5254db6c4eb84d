"""``manage.py bootstrap_recipe``: make the LoRA recipe ready to submit on the embedded default.

Gives the demo organisation a local checkpoint storage in the data directory (unless it has
one), writes a small randomly initialised Llama and a small dataset there (nothing is
downloaded), registers the model as ``tiny-llama`` v1 for team ``demo``, and prints the command
that fine-tunes it. Idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.checkpoints import services


class Command(BaseCommand):
    help = "Make the built-in LoRA recipe ready to submit (a tiny model, a dataset, checkpoint storage)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", default="demo")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from paddock.recipes.tiny import make_dataset, make_tiny_llama
        except ImportError:  # pragma: no cover - the recipes extra is not installed
            self.stdout.write("The recipe needs torch, transformers and peft (pip install '.[recipes]'); skipped.")
            return
        example = services.ensure_recipe_example(
            team_slug=options["team"],
            root=Path(settings.DATA_DIR).resolve() / "storage",
            make_model=make_tiny_llama,
            make_dataset=make_dataset,
        )
        self.stdout.write(
            f"LoRA example ready: base model tiny-llama v1 (version:{example.version_id}), dataset "
            f"{example.dataset}.\nFine-tune it: .venv/bin/paddock finetune --team {options['team']} "
            f"--base-model version:{example.version_id} --dataset {example.dataset} --steps 100 --wait "
            "(or the dashboard's New job → Template: LoRA fine-tuning)."
        )
