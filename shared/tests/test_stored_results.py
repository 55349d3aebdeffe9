"""EmployeeStatus results: one compressed attribute, and a former version's JSON strings."""

import json
import zlib

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from payroll_shared.contracts import (
    RESULTS_ATTRIBUTE,
    StoredResultsError,
    pack_results,
    stored_results,
)

RESULTS = {
    "payroll_calc": {"gross_pay": "2477.75", "section125": "115.38"},
    "tax_calc": {"net_pay": "1945.09", "roth": False},
}


def test_packed_results_read_back_from_every_form_an_item_takes():
    packed = pack_results(RESULTS)
    low_level = {"employee_id": {"S": "e1"}, RESULTS_ATTRIBUTE: {"B": packed}}
    deserialized = {k: TypeDeserializer().deserialize(v) for k, v in low_level.items()}
    assert isinstance(deserialized[RESULTS_ATTRIBUTE], Binary)
    for item in (low_level, deserialized, {RESULTS_ATTRIBUTE: packed}):
        assert stored_results(item) == RESULTS
    assert json.loads(zlib.decompress(packed)) == RESULTS  # plain zlib over plain JSON


def test_a_former_versions_strings_are_read_and_the_packed_results_win():
    legacy = {"result_tax_calc": {"S": json.dumps({"net_pay": "1.00"})}}
    assert stored_results(legacy) == {"tax_calc": {"net_pay": "1.00"}}
    both = {**legacy, RESULTS_ATTRIBUTE: {"B": pack_results(RESULTS)}}
    assert stored_results(both) == RESULTS
    assert stored_results({"employee_id": {"S": "e1"}}) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({RESULTS_ATTRIBUTE: {"B": b"not zlib"}}, "results_zlib is not zlib-compressed JSON"),
        ({RESULTS_ATTRIBUTE: {"B": zlib.compress(b"[1, 2]")}}, "not a JSON object of results"),
        ({RESULTS_ATTRIBUTE: {"S": "text"}}, "results_zlib is not zlib-compressed JSON"),
        ({"result_tax_calc": {"S": "{"}}, "result_tax_calc is not valid JSON"),
        ({"result_tax_calc": {"N": "1"}}, "result_tax_calc is not a JSON string"),
    ],
)
def test_unreadable_results_name_the_attribute(item, message):
    with pytest.raises(StoredResultsError, match=message):
        stored_results(item)
