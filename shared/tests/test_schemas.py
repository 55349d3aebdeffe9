"""A contract cannot change without its schema_version changing."""

from typing import get_args

import pytest

from payroll_shared.contracts import CONTRACTS
from payroll_shared.schemas import render, schema_path


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda m: m.__name__)
def test_schema_file_matches_model_at_its_version(model):
    path = schema_path(model)
    assert path.exists(), (
        f"{path.name} is missing: run `python -m payroll_shared.schemas` after bumping "
        f"{model.__name__}.schema_version"
    )
    assert path.read_text() == render(model), (
        f"{model.__name__} changed but schema_version did not: bump it and re-export"
    )


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda m: m.__name__)
def test_every_contract_pins_its_version(model):
    annotation = model.model_fields["schema_version"].annotation
    assert get_args(annotation) == (model.model_fields["schema_version"].default,)


def test_a_changed_model_is_caught(tmp_path):
    from typing import Literal

    from payroll_shared.contracts import PayRunTrigger

    class Changed(PayRunTrigger):
        schema_version: Literal["1"] = "1"
        extra_field: str = "x"

    # Same version, different schema: the stored file no longer matches.
    stored = render(PayRunTrigger)
    assert render(Changed) != stored
