"""A pay run through the deployed state machine on the local cloud."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from conftest import PAY_DATE

from payroll_platform.payrun import PayRunDriver, due_schedules, report, watch
from payroll_shared.contracts import stored_results

pytestmark = pytest.mark.localcloud


@pytest.fixture(scope="module")
def pay_runs(environment, tmp_path_factory):
    driver = PayRunDriver(environment.cloud.client, environment.cloud.config.stage)
    views = [driver.trigger(schedule, PAY_DATE) for schedule in due_schedules(PAY_DATE)]
    watch(driver, views, timeout_s=600)
    driver.settle()
    runs_dir = tmp_path_factory.mktemp("runs")
    summaries = {v.pay_run_id: report(driver, v, runs_dir) for v in views if v.execution_arn}
    return driver, views, summaries, runs_dir


def active_employees(database_url: str) -> dict[str, str]:
    """employee_id -> employer_id of everyone the pay runs should cover."""
    from payroll_platform.db.engine import make_engine, session_scope
    from payroll_platform.db.repository import iter_due_employers, iter_employee_records

    expected: dict[str, str] = {}
    with session_scope(make_engine(database_url)) as session:
        schedules = {s.value for s in due_schedules(PAY_DATE)}
        employer_ids = [e.employer_id for e in iter_due_employers(session, schedules)]
        for employer_id in employer_ids:
            for record in iter_employee_records(session, employer_id):
                expected[record["employee_id"]] = employer_id
    return expected


def test_every_pay_run_succeeds(pay_runs):
    _, views, _, _ = pay_runs
    assert len(views) == 4  # weekly, biweekly, semimonthly and monthly are all due
    assert {v.status for v in views} == {"SUCCEEDED"}


def test_every_employee_and_employer_has_a_final_status(pay_runs, environment):
    driver, _, _, _ = pay_runs
    expected = active_employees(environment.database_url)
    assert len(expected) >= 100
    statuses = {i["employee_id"]: i for i in driver.employee_items()}
    assert set(statuses) == set(expected)
    for employee_id, employer_id in expected.items():
        item = statuses[employee_id]
        assert item["employer_id"] == employer_id
        assert item["status"] in {"PAID", "CALCULATED", "FAILED"}, item
        if item["status"] == "FAILED":
            assert item["error_message"], item
    employers = driver.employer_items()
    assert {e["employer_id"] for e in employers} == set(expected.values())
    for employer in employers:
        assert employer["status"] in {"PAID", "NEEDS_REDRIVE"}, employer


def test_summary_counts_agree_with_the_status_tables(pay_runs):
    driver, _, summaries, runs_dir = pay_runs
    items = driver.employee_items()
    for pay_run_id, summary in summaries.items():
        mine = [i for i in items if i["pay_run_id"] == pay_run_id]
        counts = Counter(i["status"] for i in mine)
        written = json.loads((runs_dir / pay_run_id / "summary.json").read_text())
        assert written == summary
        assert summary["employees"] == len(mine)
        assert summary["calculated"] == counts["CALCULATED"] + counts["COMMITTED"] + counts["PAID"]
        assert summary["failed"] == counts["FAILED"]
        assert summary["paid"] == counts["PAID"]
        payments = driver.payments(pay_run_id)
        assert summary["payments_total"] == str(
            sum(
                (Decimal(p["amount"]) for p in payments if p["status"] == "accepted"),
                Decimal("0.00"),
            )
        )
        assert summary["notices_published"] == len(driver.notices(pay_run_id))
        register = (runs_dir / pay_run_id / "pay-register.csv").read_text().splitlines()
        assert len(register) == len(mine) + 1


def test_net_pay_is_gross_less_taxes_and_deductions(pay_runs):
    driver, _, _, _ = pay_runs
    for item in driver.employee_items():
        if item["status"] not in {"CALCULATED", "COMMITTED", "PAID"}:
            continue
        gross = stored_results(item)["payroll_calc"]
        retirement = stored_results(item)["retirement_calc"]
        tax = stored_results(item)["tax_calc"]
        deductions = Decimal(gross.get("section125", "0")) + Decimal(retirement["deferral"])
        taxes = sum(
            Decimal(tax[k])
            for k in (
                "federal_income_tax",
                "social_security",
                "medicare",
                "additional_medicare",
                "state_income_tax",
            )
        )
        assert Decimal(tax["net_pay"]) == Decimal(gross["gross_pay"]) - taxes - deductions


def test_every_employee_of_a_valid_employer_is_paid_exactly_once_with_the_net(pay_runs):
    driver, views, _, _ = pay_runs
    items = driver.employee_items()
    for view in views:
        payments = driver.payments(view.pay_run_id)
        references = [p["reference"] for p in payments if p["status"] == "accepted"]
        assert len(references) == len(set(references))  # nobody twice
        by_reference = {p["reference"]: Decimal(p["amount"]) for p in payments}
        paid = [i for i in items if i["pay_run_id"] == view.pay_run_id and i["status"] == "PAID"]
        assert len(paid) == len(references)
        for item in paid:
            net = Decimal(stored_results(item)["tax_calc"]["net_pay"])
            assert by_reference[f"{view.pay_run_id}/{item['employee_id']}"] == net
        employers_paid = {
            e["employer_id"]
            for e in driver.employer_items(view.pay_run_id)
            if e["status"] == "PAID"
        }
        notices = driver.notices(view.pay_run_id)
        assert sorted(n["employer_id"] for n in notices) == sorted(employers_paid)


def test_the_same_trigger_again_starts_nothing_new(pay_runs, environment):
    driver, _, _, _ = pay_runs
    sfn = environment.cloud.client("stepfunctions")
    machine = environment.cloud.pay_run_state_machine_arn
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    for schedule in due_schedules(PAY_DATE):
        again = driver.trigger(schedule, PAY_DATE)
        assert again.start["status"] == "already-exists", again.start
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before


def test_a_malformed_record_fails_that_employee_only_naming_the_field(pay_runs, environment):
    driver, _, _, _ = pay_runs
    items = {i["employee_id"]: i for i in driver.employee_items()}
    broken = items[environment.broken_employee]
    assert broken["status"] == "FAILED"
    assert broken["failed_step"] == "time_entry"  # the first step rejects the record
    assert broken["error_code"] == "InvalidEmployeeRecord"
    assert "hourly_rate" in broken["error_message"]
    assert environment.broken_employee in broken["error_message"]
    colleagues = [
        i
        for i in items.values()
        if i["employer_id"] == broken["employer_id"] and i["employee_id"] != broken["employee_id"]
    ]
    # Nobody of an employer with a failed employee is committed or paid yet.
    assert colleagues and {i["status"] for i in colleagues} == {"CALCULATED"}
    assert not [
        p
        for p in driver.payments(broken["pay_run_id"])
        if p["reference"].endswith(tuple(f"/{i['employee_id']}" for i in colleagues))
    ]
    others = [i for i in items.values() if i["employer_id"] != broken["employer_id"]]
    assert {i["status"] for i in others} == {"PAID"}
    employer = next(e for e in driver.employer_items() if e["employer_id"] == broken["employer_id"])
    assert employer["status"] == "NEEDS_REDRIVE"


def _wait_for_employer(driver, pay_run_id, employer_id, status, timeout_s=300.0):
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in driver.employer_items(pay_run_id) if e["employer_id"] == employer_id]
        if found and found[0]["status"] == status:
            return found[0]
        time.sleep(1)
    raise AssertionError(f"{employer_id} of {pay_run_id} did not reach {status}: {found}")


def _wait_for_dead_letter(dlq, pay_run_id, employer_id, attempts, timeout_s=300.0):
    import time

    deadline = time.monotonic() + timeout_s
    records: list = []
    while time.monotonic() < deadline:
        _, page = dlq.list(pay_run_id=pay_run_id, employer_id=employer_id)
        records = [r["record"] for r in page["records"]]
        if records and records[0]["attempts"] == attempts:
            return records[0]
        time.sleep(1)
    raise AssertionError(f"no dead letter at attempt {attempts}: {records}")


def test_correcting_the_record_and_redriving_pays_the_employer_exactly_once(
    pay_runs, environment, capsys
):
    """Seed issue 5: the bad record is dead-lettered naming the field; a person corrects
    it and runs ``payroll dlq redrive``; the whole employer is then paid exactly once
    (nobody else twice), and its notice is published once."""
    from sqlalchemy import update

    from payroll_platform.cli import main as payroll
    from payroll_platform.db.engine import make_engine
    from payroll_platform.db.models import Employee
    from payroll_platform.local.api_gateway import DlqClient

    driver, _, _, _ = pay_runs
    cloud = environment.cloud
    items = {i["employee_id"]: i for i in driver.employee_items()}
    broken = items[environment.broken_employee]
    pay_run_id, employer_id = broken["pay_run_id"], broken["employer_id"]
    colleagues = [
        i["employee_id"]
        for i in items.values()
        if i["pay_run_id"] == pay_run_id and i["employer_id"] == employer_id
    ]
    paid_before = [p for p in driver.payments(pay_run_id) if p["status"] == "accepted"]
    notices_before = driver.notices(pay_run_id)
    assert employer_id not in {n["employer_id"] for n in notices_before}

    # One dead letter, for that employee, naming the field; seen through the API.
    dlq = DlqClient(cloud.redrive_api_url)
    status, page = dlq.list(pay_run_id=pay_run_id, employer_id=employer_id)
    assert status == 200, page
    (entry,) = page["records"]
    record = entry["record"]
    assert record["employee_id"] == environment.broken_employee
    assert record["step"] == "time_entry" and record["attempts"] == 1
    assert record["error"]["code"] == "InvalidEmployeeRecord"
    assert "hourly_rate" in record["error"]["message"]
    assert record["payload"]["record_sha256"]

    # Redriven before anyone corrected it, it fails the same way and comes back with
    # its attempt counted; the employer still pays nobody.
    status, first = dlq.redrive(record["record_id"])
    assert status == 200 and first["outcomes"][0]["action"] == "started", first
    again = _wait_for_dead_letter(dlq, pay_run_id, employer_id, attempts=2)
    assert again["record_id"] == record["record_id"]
    assert again["first_failed_at"] == record["first_failed_at"]
    assert "hourly_rate" in again["error"]["message"]
    assert not [p for p in driver.payments(pay_run_id) if p["reference"] in
                {f"{pay_run_id}/{e}" for e in colleagues}]  # fmt: skip

    # A person corrects the record in the database ...
    with make_engine(environment.database_url).begin() as connection:
        connection.execute(
            update(Employee)
            .where(Employee.employee_id == environment.broken_employee)
            .values(hourly_rate=Decimal("31.25"))
        )
    # ... and redrives it from the command line.
    code = payroll(["dlq", "redrive", "--api-url", cloud.redrive_api_url, record["record_id"]])
    out = capsys.readouterr().out
    assert code == 0, out
    report_body = json.loads(out)
    assert [o["action"] for o in report_body["outcomes"]] == ["started"]

    _wait_for_employer(driver, pay_run_id, employer_id, "PAID")
    driver.settle()

    payments = [p for p in driver.payments(pay_run_id) if p["status"] == "accepted"]
    references = [p["reference"] for p in payments]
    assert len(references) == len(set(references)), "somebody was paid twice"
    new = [p for p in payments if p not in paid_before]
    # Exactly the employer's employees were paid now, each once; nobody else again.
    assert sorted(p["reference"] for p in new) == sorted(f"{pay_run_id}/{e}" for e in colleagues)
    items = {i["employee_id"]: i for i in driver.employee_items(pay_run_id)}
    by_reference = {p["reference"]: Decimal(p["amount"]) for p in payments}
    for employee_id in colleagues:
        assert items[employee_id]["status"] == "PAID"
        net = Decimal(stored_results(items[employee_id])["tax_calc"]["net_pay"])
        assert by_reference[f"{pay_run_id}/{employee_id}"] == net
    fixed = stored_results(items[environment.broken_employee])["payroll_calc"]
    assert Decimal(fixed["gross_pay"]) > 0
    notices = [n for n in driver.notices(pay_run_id) if n["employer_id"] == employer_id]
    (notice,) = notices
    assert notice["employees_paid"] == len(colleagues)
    # The record is gone from the DLQ; redriving it again finds nothing.
    status, page = dlq.list(pay_run_id=pay_run_id, employer_id=employer_id)
    assert page["records"] == []
    status, _ = dlq.redrive(record["record_id"])
    assert status == 404


def test_a_consumer_down_past_the_task_timeout_fails_its_chunks_not_the_run(pay_runs, environment):
    """TimeEntry's consumer is down: its chunks fail with a timeout; nothing hangs."""
    from datetime import date

    from conftest import STEP_HEARTBEAT_S

    from payroll_shared import names
    from payroll_shared.payrun import PayFrequency

    driver, _, _, _ = pay_runs
    cloud = environment.cloud
    queue = cloud.service_param("time-entry", names.QUEUE_URL)
    pollers = [p for p in cloud.pollers if p.queue_url == queue]
    for poller in pollers:
        poller.stop()
    try:
        view = driver.trigger(PayFrequency.WEEKLY, date(2026, 8, 7))
        assert view.execution_arn, view.start
        watch(driver, [view], timeout_s=STEP_HEARTBEAT_S * 6)
        assert view.status == "SUCCEEDED"  # the run completes; the chunks are recorded failed
        mine = [i for i in driver.employee_items() if i["pay_run_id"] == view.pay_run_id]
        assert mine
        for item in mine:
            assert item["status"] == "FAILED", item
            # As AWS names it (payroll_platform.local.moto_compat), after one retry.
            assert item["error_code"] == "States.HeartbeatTimeout", item
            assert "time_entry" in item["error_message"], item
    finally:
        cloud.client("sqs").purge_queue(QueueUrl=queue)
        for poller in pollers:
            poller.resume(cloud.config.poller_concurrency)


def _copy_last_weeks_hours(database_url: str, pay_date) -> None:
    """Time entries for the week ending ``pay_date``: the week before's, seven days on
    (the seed writes hours for its own pay date only)."""
    from datetime import timedelta

    from sqlalchemy import insert, select

    from payroll_platform.db.engine import make_engine
    from payroll_platform.db.models import TimeEntry

    week = timedelta(days=7)
    with make_engine(database_url).begin() as connection:
        rows = connection.execute(
            select(TimeEntry.employee_id, TimeEntry.work_date, TimeEntry.hours,
                   TimeEntry.earning_code)
            .where(TimeEntry.work_date > pay_date - 2 * week,
                   TimeEntry.work_date <= pay_date - week)
        ).all()  # fmt: skip
        connection.execute(
            insert(TimeEntry),
            [
                {"employee_id": e, "work_date": d + week, "hours": h, "earning_code": c}
                for e, d, h, c in rows
            ],
        )


def test_the_schedule_redrives_the_timed_out_employees_and_pays_each_once(pay_runs, environment):
    """After the consumer is back (and the week's hours are in), one scheduled Redrive
    run picks up the transient failures of the previous test on its own, and every
    employee of that pay run is paid exactly once, one notice per employer."""
    from datetime import date

    driver, _, _, _ = pay_runs
    cloud = environment.cloud
    pay_run_id = "pr-weekly-2026-08-07"
    _copy_last_weeks_hours(environment.database_url, date(2026, 8, 7))
    driver.settle()  # employer-validation has dead-lettered the failed employees
    employees = [i["employee_id"] for i in driver.employee_items(pay_run_id)]
    employers = {e["employer_id"] for e in driver.employer_items(pay_run_id)}
    assert employees and employers

    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name("redrive", "Scheduled"),
        Payload=json.dumps({"source": "aws.events", "detail-type": "Scheduled Event"}).encode(),
    )
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    actions = Counter(o["action"] for o in result["process"]["outcomes"])
    assert actions == {"started": len(employees)}, result["process"]

    for employer_id in employers:
        _wait_for_employer(driver, pay_run_id, employer_id, "PAID")
    driver.settle()
    payments = [p for p in driver.payments(pay_run_id) if p["status"] == "accepted"]
    assert sorted(p["reference"] for p in payments) == sorted(
        f"{pay_run_id}/{e}" for e in employees
    )
    assert sorted(n["employer_id"] for n in driver.notices(pay_run_id)) == sorted(employers)
    assert driver.dead_letters(pay_run_id) == 0


def test_an_employer_that_cannot_be_listed_is_a_dead_letter_the_schedule_redrives(
    pay_runs, environment
):
    """GetEmployees fails for every employer (its bucket is gone): each employer is
    NEEDS_REDRIVE with nobody of it known, and one dead letter (source orchestration)
    says so. Once GetEmployees works again, one scheduled Redrive runs each employer
    as a whole, and every employee is paid exactly once."""
    from datetime import date

    from payroll_shared import names
    from payroll_shared.names import PlatformParam
    from payroll_shared.payrun import PayFrequency

    driver, _, _, _ = pay_runs
    cloud = environment.cloud
    pay_date = date(2026, 8, 14)
    _copy_last_weeks_hours(environment.database_url, pay_date)
    get_employees = cloud.function_name("orchestration", "GetEmployees")
    cloud.runtime.override(get_employees, PAYRUN_BUCKET="payroll-no-such-bucket")
    try:
        view = driver.trigger(PayFrequency.WEEKLY, pay_date)
        watch(driver, [view], timeout_s=300)
    finally:
        cloud.runtime.override(get_employees)
    assert view.status == "SUCCEEDED"
    pay_run_id = view.pay_run_id
    employers = {e["employer_id"]: e for e in driver.employer_items(pay_run_id)}
    assert employers
    assert {e["status"] for e in employers.values()} == {"NEEDS_REDRIVE"}
    # Their BEGIN rows may be written (before the listing's upload failed); no more.
    assert {i["status"] for i in driver.employee_items(pay_run_id)} <= {"BEGIN"}
    process_dlq = driver.param(names.platform_param(driver.stage, PlatformParam.PROCESS_DLQ_URL))
    records = [r for r in driver._peek(process_dlq) if r.get("pay_run_id") == pay_run_id]
    assert sorted(r["employer_id"] for r in records) == sorted(employers)
    for record in records:
        assert record["source"] == "orchestration" and record["employee_id"] is None
        assert f"employer {record['employer_id']}" in record["error"]["message"]

    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name("redrive", "Scheduled"),
        Payload=json.dumps({"source": "aws.events", "detail-type": "Scheduled Event"}).encode(),
    )
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    mine = [o for o in result["process"]["outcomes"] if o["record_id"].startswith(pay_run_id)]
    assert Counter(o["action"] for o in mine) == {"started": len(employers)}, result["process"]

    for employer_id in employers:
        _wait_for_employer(driver, pay_run_id, employer_id, "PAID")
    driver.settle()
    employees = [i["employee_id"] for i in driver.employee_items(pay_run_id)]
    assert employees
    payments = [p for p in driver.payments(pay_run_id) if p["status"] == "accepted"]
    assert sorted(p["reference"] for p in payments) == sorted(
        f"{pay_run_id}/{e}" for e in employees
    )
    assert sorted(n["employer_id"] for n in driver.notices(pay_run_id)) == sorted(employers)
    assert driver.dead_letters(pay_run_id) == 0
