"""The bad-input corpus at the synchronous boundaries: GetEmployers and the redrive API.

- A ``PayRunTrigger`` (what the schedules and ``payroll run`` send GetEmployers) that is
  malformed or names no real period is answered ``rejected`` with the reason naming the
  field, and the trigger is kept on the orchestration DLQ with that reason (Redrive
  never replays a malformed one); no pay run starts.
- A ``RedriveEmployees`` (what Redrive sends GetEmployers) that breaks its contract
  fails the invocation with a validation error naming the field; a well-formed one for
  a pay run that does not exist, or naming an employee twice, starts nothing and says
  which employees it could not find (once each).
- The redrive API (``payroll dlq``) answers a malformed body or query with 422 naming
  the field (``detail[].loc``), a key that is not a record key with 400, a record
  that is not on the process DLQ with 404, and a route it does not have with 403, as
  API Gateway would; SQL-looking filter values are plain strings that match nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from corpus_support import attributes_of, collect, function_env, invoke

from payroll_shared import names

pytestmark = pytest.mark.localcloud

NO_SUCH_PAY_RUN = {
    "pay_run_id": "pr-weekly-2031-01-03",
    "pay_schedule": "weekly",
    "period_start": "2030-12-28",
    "period_end": "2031-01-03",
    "pay_date": "2031-01-03",
}

# (case id, trigger event, what the reason must name). None of them may start a run.
TRIGGERS: list[tuple[str, Any, str]] = [
    ("missing-pay_schedule", {"pay_date": "2026-07-31"}, "pay_schedule"),
    ("unknown-pay_schedule", {"pay_schedule": "fortnightly", "pay_date": "2026-07-31"},
     "pay_schedule"),
    ("wrong-typed-pay_schedule", {"pay_schedule": 7, "pay_date": "2026-07-31"}, "pay_schedule"),
    ("impossible-pay_date", {"pay_schedule": "weekly", "pay_date": "2026-02-30"}, "pay_date"),
    ("wrong-typed-pay_date", {"pay_schedule": "weekly", "pay_date": ["2026-07-31"]}, "pay_date"),
    # Not a semimonthly period end: no period can be paid on it.
    ("pay_date-not-a-period-end", {"pay_schedule": "semimonthly", "pay_date": "2026-07-20"},
     "pay_date"),
    ("wrong-typed-requested_by",
     {"pay_schedule": "weekly", "pay_date": "2026-07-31", "requested_by": 42}, "requested_by"),
    ("wrong-schema_version",
     {"schema_version": "7", "pay_schedule": "weekly", "pay_date": "2026-07-31"},
     "schema_version"),
    ("unknown-field",
     {"pay_schedule": "weekly", "pay_date": "2026-07-31", "pay_run_id": "pr-weekly-2026-07-31"},
     "pay_run_id"),
    # The schedule's own shape: no pay date, the scheduled time instead.
    ("schedule-without-scheduled_time", {"pay_schedule": "monthly"}, "scheduled_time"),
    ("schedule-with-bad-scheduled_time",
     {"pay_schedule": "monthly", "scheduled_time": "yesterday'; DROP TABLE employers;--"},
     "scheduled_time"),
    ("not-an-object", ["weekly", "2026-07-31"], "JSON object"),
]  # fmt: skip


def _get_employers(environment) -> str:
    return environment.cloud.service_param("orchestration", names.FUNCTION_NAME)


@pytest.fixture(scope="module")
def rejected_triggers(environment) -> dict[str, tuple[Any, dict[str, Any]]]:
    """case id -> (GetEmployers' answer, the orchestration DLQ message)."""
    cloud = environment.cloud
    function = _get_employers(environment)
    sfn = cloud.client("stepfunctions")
    machine = cloud.pay_run_state_machine_arn
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    answers = {}
    for case, event, _ in TRIGGERS:
        answer, error = invoke(cloud, function, event)
        assert error is None, answer  # answered, not raised: retrying cannot help
        answers[case] = answer
    after = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    assert after == before, "a rejected trigger started a pay run"
    dlq = function_env(cloud, function)["ORCHESTRATION_DLQ_URL"]
    found = collect(cloud, dlq, [json.dumps(event) for _, event, _ in TRIGGERS])
    return {case: (answers[case], found[json.dumps(event)]) for case, event, _ in TRIGGERS}


@pytest.mark.parametrize(("case", "named"), [pytest.param(c, n, id=c) for c, _, n in TRIGGERS])
def test_a_bad_trigger_is_rejected_and_kept_naming_the_field(rejected_triggers, case, named):
    answer, message = rejected_triggers[case]
    assert answer["status"] == "rejected", answer
    assert named in answer["reason"], answer
    attributes = attributes_of(message)
    assert attributes["error_code"] == "InvalidTrigger"
    assert attributes["error_reason"] == answer["reason"]


REDRIVE = {
    "pay_run": NO_SUCH_PAY_RUN,
    "employer_id": "er-corpus-nowhere",
    "attempt": 2,
    "employees": [
        {"employee_id": "ee-corpus-nobody", "first_failed_at": "2031-01-03T10:00:00+00:00"}
    ],
}
EMPLOYEE = REDRIVE["employees"][0]

# (case id, RedriveEmployees body, the field the validation error names)
REDRIVES: list[tuple[str, dict[str, Any], str]] = [
    ("missing-employer_id", {k: v for k, v in REDRIVE.items() if k != "employer_id"},
     "employer_id"),
    ("missing-pay_run", {k: v for k, v in REDRIVE.items() if k != "pay_run"}, "pay_run"),
    ("first-attempt", {**REDRIVE, "attempt": 1}, "attempt"),
    ("wrong-typed-attempt", {**REDRIVE, "attempt": "second"}, "attempt"),
    ("no-employees", {**REDRIVE, "employees": []}, "employees"),
    ("wrong-typed-employees", {**REDRIVE, "employees": "ee-corpus-nobody"}, "employees"),
    ("employee-without-id", {**REDRIVE, "employees": [{"first_failed_at": "2031-01-03"}]},
     "employees.0.employee_id"),
    ("bad-first_failed_at",
     {**REDRIVE, "employees": [{**EMPLOYEE, "first_failed_at": "yesterday"}]},
     "employees.0.first_failed_at"),
    ("bad-fingerprint",
     {**REDRIVE, "employees": [{**EMPLOYEE, "unless_record_sha256": "' OR 1=1 --"}]},
     "employees.0.unless_record_sha256"),
    ("bad-pay_run_id", {**REDRIVE, "pay_run": {**NO_SUCH_PAY_RUN, "pay_run_id": "pr-x"}},
     "pay_run.pay_run_id"),
    ("long-requested_by", {**REDRIVE, "requested_by": "x" * 257}, "requested_by"),
    ("unknown-field", {**REDRIVE, "force": True}, "force"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "named"), [pytest.param(b, n, id=c) for c, b, n in REDRIVES])
def test_a_bad_redrive_request_fails_the_invocation_naming_the_field(environment, body, named):
    answer, error = invoke(environment.cloud, _get_employers(environment), {"redrive": body})
    assert error, answer
    assert answer["errorType"] == "ValidationError", answer
    assert "RedriveEmployees" in answer["errorMessage"]
    assert f"\n{named}\n" in f"{answer['errorMessage']}\n", answer["errorMessage"]


def test_a_redrive_for_a_pay_run_that_does_not_exist_starts_nothing(environment):
    """Well-formed, about nobody: GetEmployers starts no execution and says who it could
    not find; the same employee named twice is looked at once."""
    body = {**REDRIVE, "employees": [EMPLOYEE, EMPLOYEE]}
    answer, error = invoke(environment.cloud, _get_employers(environment), {"redrive": body})
    assert error is None, answer
    assert answer["status"] == "nothing-to-redrive", answer
    assert answer["execution_arn"] is None
    assert answer["missing"] == ["ee-corpus-nobody"]
    assert answer["started"] == []


# ------------------------------------------------------------------ the redrive API


def _key(record_id: str) -> str:
    import base64

    return base64.urlsafe_b64encode(record_id.encode()).decode().rstrip("=")


NO_SUCH_RECORD = _key("pr-weekly-2031-01-03/er-corpus-nowhere/ee-corpus-nobody")

# (case id, method, path, query, JSON body or raw bytes, status, where detail[].loc points)
API_CASES: list[tuple[str, str, str, dict[str, str], Any, int, list[str] | None]] = [
    ("discard-without-reason", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {}, {}, 422,
     ["body", "reason"]),
    ("discard-wrong-typed-reason", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     {"reason": 42}, 422, ["body", "reason"]),
    ("discard-empty-reason", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     {"reason": ""}, 422, ["body", "reason"]),
    ("discard-reason-too-long", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     {"reason": "x" * 1001}, 422, ["body", "reason"]),
    ("discard-unknown-field", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     {"reason": "checked", "force": True}, 422, ["body", "force"]),
    ("discard-body-not-json", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     b"reason=checked", 422, ["body"]),
    ("list-employer_id-too-long", "GET", "/dead-letters", {"employer_id": "e" * 65}, None, 422,
     ["query", "employer_id"]),
    ("redrive-all-error_code-too-long", "POST", "/dead-letters/redrive",
     {"error_code": "E" * 65}, None, 422, ["query", "error_code"]),
    # A well-formed discard of a record that is not there.
    ("discard-no-such-record", "POST", f"/dead-letters/{NO_SUCH_RECORD}/discard", {},
     {"reason": "'); DELETE FROM audit; --"}, 404, None),
    ("show-not-a-record-key", "GET", "/dead-letters/not!a!key", {}, None, 400, None),
    ("show-no-such-record", "GET", f"/dead-letters/{NO_SUCH_RECORD}", {}, None, 404, None),
    ("redrive-no-such-record", "POST", f"/dead-letters/{NO_SUCH_RECORD}/redrive", {}, None, 404,
     None),
    ("redrive-all-without-filter", "POST", "/dead-letters/redrive", {}, None, 400, None),
    ("redrive-all-matching-nothing", "POST", "/dead-letters/redrive",
     {"pay_run_id": "pr-weekly-2031-01-03"}, None, 404, None),
    ("no-such-route", "DELETE", "/dead-letters", {}, None, 403, None),
]  # fmt: skip


@pytest.fixture(scope="module")
def api(environment):
    from payroll_platform.local.api_gateway import DlqClient

    client = DlqClient(environment.cloud.redrive_api_url, caller="corpus")
    yield client
    client.close()


def _call(api, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
    if isinstance(body, bytes):
        import requests

        response = requests.request(
            method,
            api.base_url + path,
            params=query,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        return response.status_code, response.json()
    return api.request(method, path, params=query, json_body=body, write=method == "POST")


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "loc"),
    [pytest.param(*case[1:], id=case[0]) for case in API_CASES],
)
def test_a_bad_api_call_is_rejected_naming_what_is_wrong(
    api, method, path, query, body, status, loc
):
    answer_status, answer = _call(api, method, path, query, body)
    assert answer_status == status, answer
    if loc is not None:
        assert loc in [e["loc"][: len(loc)] for e in answer["detail"]], answer
    elif status in (400, 404):
        assert answer["message"], answer  # a reason, not an empty error


def test_sql_looking_filters_are_plain_strings(api):
    """A filter is compared as a string: an injection-looking value matches nothing and
    the queue is not touched (the same records are listed before and after)."""
    status, before = api.list()
    assert status == 200, before
    for value in ("' OR '1'='1", "%"):
        status, page = api.list(pay_run_id=value, employer_id=value, error_code=value)
        assert status == 200, page
        assert page["records"] == [] and page["unreadable"] == [], page
    status, after = api.list()
    assert [r["record_key"] for r in after["records"]] == [
        r["record_key"] for r in before["records"]
    ]
