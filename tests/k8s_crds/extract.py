"""Refresh a CRD schema file here from a checkout of the project that publishes the CRD.

    python tests/k8s_crds/extract.py GIT_DIR COMMIT PATH [VERSION ...]

Reads the CustomResourceDefinition at ``PATH`` in ``COMMIT`` of the git repository
``GIT_DIR`` (``git show``; no work tree needed) and writes
``tests/k8s_crds/<group>_<kind>.json``: ``{"<group>/<version>": openAPIV3Schema}`` for
each served version named (all served versions when none is named). ``description`` texts
are dropped (they are most of the bytes and validate nothing); every other keyword is kept
as published. Update the table in README.md with the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
# Keywords whose value maps names to schemas: their keys are field names, not keywords.
SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")


def strip_descriptions(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strip_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description" and isinstance(value, str):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_descriptions(sub) for name, sub in value.items()}
        else:
            out[key] = strip_descriptions(value)
    return out


def main(git_dir: str, commit: str, path: str, wanted: list[str]) -> Path:
    text = subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    crd = yaml.safe_load(text)
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    schemas = {
        f"{group}/{version['name']}": strip_descriptions(version["schema"]["openAPIV3Schema"])
        for version in spec["versions"]
        if version.get("served") and (not wanted or version["name"] in wanted)
    }
    if not schemas:
        raise SystemExit(f"{path}: no served version among {wanted}")
    target = HERE / f"{group}_{kind.lower()}.json"
    target.write_text(json.dumps(schemas, sort_keys=True, separators=(",", ":")) + "\n")
    return target


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    print(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
