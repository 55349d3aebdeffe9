"""Export the contracts' JSON Schemas to ``shared/schemas/<Model>.v<N>.json``.

Run ``python -m payroll_shared.schemas`` after changing a contract (and bumping its
``schema_version``). A test fails when a model's schema differs from the file of its
current version, so a change without a bump cannot land.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from payroll_shared.contracts import CONTRACTS, Contract

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def version_of(model: type[Contract]) -> str:
    default = model.model_fields["schema_version"].default
    if not isinstance(default, str):
        raise TypeError(f"{model.__name__}.schema_version has no string default")
    return default


def schema_path(model: type[Contract], directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{model.__name__}.v{version_of(model)}.json"


def render(model: type[Contract]) -> str:
    schema: dict[str, Any] = model.model_json_schema(mode="serialization")
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in CONTRACTS:
        path = schema_path(model, directory)
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in export():
        sys.stdout.write(f"{path}\n")
