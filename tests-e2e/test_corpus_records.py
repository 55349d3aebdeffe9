"""The bad-input corpus in the database: one pay run over every bad record at once.

Five employers of their own (``er-corpus-*``, weekly, paid on 2026-09-04 so they form
a pay run of their own, ``pr-weekly-2026-09-04``) are added to the session's database:

- ``er-corpus-a``: every bad employee record of the corpus (negative, sub-cent and
  absurd rates, negative and impossible hours, no hours, unknown filing status and
  states, W-4s that would withhold less than nothing or lack their fields, bad 401(k)
  elections, deductions over pay, names too long or empty...) and three good employees;
- ``er-corpus-b``: good employees with hostile but valid data (unicode, right-to-left
  and 200-character names, SQL-looking names and employer name, W-4 credits larger
  than the tax, a very high but storable rate);
- ``er-corpus-c``: an employer with no active employee;
- ``er-corpus-d``: an employee whose bank account token is an SQL-looking string the
  payment provider refuses, and a good colleague;
- ``er-corpus-e``: an employee whose 401(k) deferral leaves a negative net pay (tax
  fails after retirement succeeded); corrected and redriven, every step computes again
  from the corrected record (a stored step result answers only for its own inputs).

ONE pay run goes through the real pipeline, then each case is checked where it must
end (design: README "Dead letters and redrive"): a bad record fails that employee
only, at the step that reads it, with a message naming the field, and is one
dead-letter record on the process DLQ; its employer is NEEDS_REDRIVE and nobody of it
is paid, while its good employees keep their calculation (CALCULATED); every other
employer is paid, each employee exactly once, with one completion notice. Correcting
the records and redriving the employer then pays every employee of it exactly once,
the good ones with the amounts calculated in the first run.

What the schema itself refuses (an employee id under two employers, a pay type that
does not exist) cannot reach a pay run: those cases check the insert is refused.

The other pay-run tests scan the whole status tables of the session's cloud, so the
corpus employers are active only while their run is triggered, the other weekly
employers are inactive only then, and the corpus's status items and dead letters are
removed at the end (dead letters through the API's audited discard).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from corpus_support import attributes_of, collect, dlq_url, queue_url, read_through

from payroll_shared.contracts import stored_results

pytestmark = pytest.mark.localcloud

PAY_DATE = date(2026, 9, 4)  # a Friday: the weekly period 2026-08-29 .. 2026-09-04
PAY_RUN_ID = "pr-weekly-2026-09-04"
PAY_RUN = {
    "pay_run_id": PAY_RUN_ID,
    "pay_schedule": "weekly",
    "period_start": "2026-08-29",
    "period_end": "2026-09-04",
    "pay_date": "2026-09-04",
}
WORKDAYS = [date(2026, 8, 31) + timedelta(days=i) for i in range(5)]  # Monday to Friday
BAD, CLEAN, EMPTY, PAYMENT = "er-corpus-a", "er-corpus-b", "er-corpus-c", "er-corpus-d"
DEDUCTIONS = "er-corpus-e"
EMPLOYERS = {
    BAD: "Corpus Bad Records LLC",
    DEDUCTIONS: "Corpus Deductions Corp.",
    CLEAN: "Robert'); DELETE FROM employers; -- Inc.",
    EMPTY: "Corpus Nobody Works Here Co.",
    PAYMENT: "Corpus Payments Group",
}
W4_OK = {
    "form_year": 2022,
    "filing_status": "single",
    "step2_checkbox": False,
    "step3_credits": "0.00",
    "step4a_other_income": "0.00",
    "step4b_deductions": "0.00",
    "step4c_extra_withholding": "0.00",
    "allowances": None,
}


def salaried(employee_id: str, employer_id: str, **changes: Any) -> dict[str, Any]:
    row = {
        "employee_id": employee_id,
        "employer_id": employer_id,
        "first_name": "Ada",
        "last_name": "Corpus",
        "birth_date": date(1985, 5, 5),
        "hire_date": date(2020, 1, 6),
        "active": True,
        "pay_type": "salary",
        "pay_frequency": "weekly",
        "annual_salary": Decimal("52000.00"),  # 1,000.00 a week
        "hourly_rate": None,
        "flsa_exempt": True,
        "overtime_rule": "flsa",
        "work_state": "TX",
        "w4": dict(W4_OK),
        "state_withholding": {},
        "retirement": {},
        "section125_per_period": Decimal("0.00"),
        "bank_account_token": f"tok_{employee_id.replace('-', '_')}",
        "tax_id_token": "tok_tax_corpus",
    }
    row.update(changes)
    return row


def hourly(employee_id: str, employer_id: str, **changes: Any) -> dict[str, Any]:
    row = salaried(
        employee_id,
        employer_id,
        pay_type="hourly",
        annual_salary=None,
        hourly_rate=Decimal("25.00"),
        flsa_exempt=False,
    )
    row.update(changes)
    return row


def full_week(employee_id: str, hours: str = "8.00") -> list[dict[str, Any]]:
    return [
        {"employee_id": employee_id, "work_date": day, "hours": Decimal(hours)} for day in WORKDAYS
    ]


@dataclass(frozen=True)
class Bad:
    """One bad record: where it must fail and what its message must name."""

    row: dict[str, Any]
    step: str
    code: str
    names: str
    why: str
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def employee_id(self) -> str:
        return str(self.row["employee_id"])


def _bad(n: int, make: Any = salaried, **changes: Any) -> dict[str, Any]:
    return make(f"ee-corpus-a{n:02d}", BAD, **changes)


def _w4(**changes: Any) -> dict[str, Any]:
    return {**W4_OK, **changes}


CONTRACT = ("time_entry", "InvalidEmployeeRecord")  # the first step validates the record
BAD_RECORDS = [
    Bad(_bad(1, hourly, hourly_rate=Decimal("-25.00")), *CONTRACT, "hourly_rate",
        "a negative rate", full_week("ee-corpus-a01")),
    Bad(_bad(2, hourly, hourly_rate=Decimal("25.1234")), *CONTRACT, "hourly_rate",
        "a rate with sub-cent digits: rounding it is a business decision, not the loader's",
        full_week("ee-corpus-a02")),
    Bad(_bad(3, hourly, hourly_rate=Decimal("12345678.99")), *CONTRACT, "hourly_rate",
        "an absurd rate: more than the column holds (PostgreSQL refuses the insert, SQLite "
        "stores it; the contract refuses it on both)", full_week("ee-corpus-a03")),
    Bad(_bad(4, hourly), "time_entry", "InvalidTimeEntry", "hours", "negative hours",
        [*full_week("ee-corpus-a04")[1:],
         {"employee_id": "ee-corpus-a04", "work_date": WORKDAYS[0], "hours": Decimal("-4.00")}]),
    Bad(_bad(5, hourly), "time_entry", "InvalidTimeEntry", "hours", "25 hours in one day",
        [*full_week("ee-corpus-a05")[:1],
         {"employee_id": "ee-corpus-a05", "work_date": WORKDAYS[1], "hours": Decimal("25.00")}]),
    Bad(_bad(6, hourly), "time_entry", "NoTimeEntries", "time_entries",
        "an hourly employee without hours"),
    Bad(_bad(7, w4=_w4(filing_status="widowed")), *CONTRACT, "w4.filing_status",
        "an unknown filing status"),
    Bad(_bad(8, work_state="ZZ"), "tax_calc", "UnsupportedState", "work_state",
        "an unknown state: well-formed, so only the tax step, which has no rules for it, "
        "can refuse it"),
    Bad(_bad(9, work_state="tx"), *CONTRACT, "work_state", "a state that is not a code"),
    Bad(_bad(10, w4=_w4(step4c_extra_withholding="-500.00")), *CONTRACT,
        "w4.step4c_extra_withholding",
        "a W-4 that would withhold less than zero (and pay the tax out in net pay)"),
    Bad(_bad(11, w4=_w4(form_year=2015)), *CONTRACT, "allowances",
        "a W-4 from before 2020 without allowances"),
    Bad(_bad(12, w4=_w4(form_year="twenty")), *CONTRACT, "w4.form_year",
        "a wrong-typed W-4 field"),
    Bad(_bad(13, w4={}), *CONTRACT, "w4.filing_status", "a W-4 without any field"),
    Bad(_bad(14, retirement={"deferral_percent": "150"}), *CONTRACT, "deferral_percent",
        "a 401(k) deferral over 100%"),
    Bad(_bad(15, retirement={"deferral_percent": "lots"}), *CONTRACT,
        "retirement.deferral_percent", "a wrong-typed 401(k) election"),
    Bad(_bad(16, work_state="IL", state_withholding={"il_line1_allowances": "-1"}),
        "tax_calc", "PaycheckError", "state_withholding.il_line1_allowances",
        "negative IL-W-4 allowances"),
    Bad(_bad(17, state_withholding={"il_line1_allowances": 1}), *CONTRACT,
        "state_withholding.il_line1_allowances", "a wrong-typed state withholding field"),
    Bad(_bad(18, section125_per_period=Decimal("5000.00")), "payroll_calc", "InvalidPayInput",
        "section125", "a section 125 deduction over the gross pay"),
    # In an employer of its own: see test_a_deduction_corrected_after_its_step_...
    Bad(salaried("ee-corpus-e01", DEDUCTIONS, retirement={"deferral_amount": "990.00"}),
        "tax_calc", "NegativeNetPay", "net_pay",
        "deductions and taxes over the gross pay: never a negative payment"),
    Bad(_bad(20, annual_salary=None), *CONTRACT, "annual_salary",
        "a salaried employee without a salary"),
    Bad(_bad(21, first_name="Ä" * 201), *CONTRACT, "first_name",
        "a name longer than 200 characters (SQLite stores it; PostgreSQL's VARCHAR(200) "
        "refuses the insert)"),
    Bad(_bad(22, last_name=""), *CONTRACT, "last_name", "an empty name"),
    Bad(_bad(23, bank_account_token=""), *CONTRACT, "bank_account_token",
        "no bank account to pay into"),
]  # fmt: skip
OF_BAD = [b for b in BAD_RECORDS if b.row["employer_id"] == BAD]
GOOD_OF_BAD = [
    salaried("ee-corpus-a90", BAD, first_name="Grace"),
    hourly("ee-corpus-a91", BAD, first_name="Linus"),
    salaried("ee-corpus-a92", BAD, first_name="Kenji", last_name="Ōtsuka"),
]
CLEAN_EMPLOYEES = [
    salaried("ee-corpus-b01", CLEAN, first_name="Zoë", last_name="Nguyễn-Łukasiewicz 山田 🙂"),
    hourly("ee-corpus-b02", CLEAN, last_name="é" * 200),  # the longest name there is room for
    salaried("ee-corpus-b03", CLEAN, first_name="Robert'); DROP TABLE employees;--",
             last_name="O'Brien' OR '1'='1"),
    # W-4 Step 3 credits larger than the tax: Pub 15-T line 3c is max(0, ...), so the
    # withholding is 0.00, never negative; a success, not an error.
    salaried("ee-corpus-b04", CLEAN, w4=_w4(filing_status="head_of_household",
                                             step3_credits="99999.00")),
    # No published rule caps a rate: a very high one the schema can hold is paid exactly
    # as computed (a plausibility review would be a business rule, decided elsewhere).
    hourly("ee-corpus-b05", CLEAN, hourly_rate=Decimal("9999.99")),
    salaried("ee-corpus-b06", CLEAN, first_name="عبد الله", last_name="بن سعيد",
             work_state="IL", state_withholding={"il_line1_allowances": "1"}),
]  # fmt: skip
REFUSED_TOKEN = "tok_x'; DROP TABLE payments;--"
PAYMENT_EMPLOYEES = [
    salaried("ee-corpus-d01", PAYMENT, bank_account_token=REFUSED_TOKEN),
    salaried("ee-corpus-d02", PAYMENT),
]
INACTIVE = salaried("ee-corpus-c01", EMPTY, active=False)


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    employees = [b.row for b in BAD_RECORDS] + GOOD_OF_BAD + CLEAN_EMPLOYEES
    employees += [*PAYMENT_EMPLOYEES, INACTIVE]
    entries = [e for b in BAD_RECORDS for e in b.entries]
    for row in employees:
        if row["pay_type"] == "hourly" and not row["employee_id"].startswith("ee-corpus-a"):
            entries += full_week(row["employee_id"])
    entries += full_week("ee-corpus-a91")
    return employees, entries


def _engine(environment: Any) -> Any:
    from payroll_platform.db.engine import make_engine

    return make_engine(environment.database_url)


def _seed(engine: Any) -> None:
    from sqlalchemy import insert

    from payroll_platform.db.models import Employee, Employer, TimeEntry

    employees, entries = _rows()
    with engine.begin() as connection:
        connection.execute(
            insert(Employer),
            [
                {"employer_id": e, "name": n, "pay_schedule": "weekly", "active": False,
                 "fein": "**-***0000"}
                for e, n in EMPLOYERS.items()
            ],
        )  # fmt: skip
        connection.execute(insert(Employee), employees)
        connection.execute(insert(TimeEntry), entries)


def _trigger_alone(engine: Any, driver: Any) -> Any:
    """Trigger the weekly pay run of PAY_DATE with only the corpus employers due.

    GetEmployers reads the due employers when triggered (into employers.json); later
    steps read employees by employer, so the employers' flags are restored at once.
    """
    from sqlalchemy import select, update

    from payroll_platform.db.models import Employer
    from payroll_shared.payrun import PayFrequency

    with engine.begin() as connection:
        others = list(
            connection.execute(
                select(Employer.employer_id).where(
                    Employer.pay_schedule == "weekly",
                    Employer.active.is_(True),
                    Employer.employer_id.not_in(list(EMPLOYERS)),
                )
            ).scalars()
        )
        connection.execute(
            update(Employer).where(Employer.employer_id.in_(others)).values(active=False)
        )
        connection.execute(
            update(Employer).where(Employer.employer_id.in_(list(EMPLOYERS))).values(active=True)
        )
    try:
        return driver.trigger(PayFrequency.WEEKLY, PAY_DATE)
    finally:
        with engine.begin() as connection:
            connection.execute(
                update(Employer).where(Employer.employer_id.in_(others)).values(active=True)
            )
            connection.execute(
                update(Employer)
                .where(Employer.employer_id.in_(list(EMPLOYERS)))
                .values(active=False)
            )


@dataclass
class CorpusRun:
    driver: Any
    view: Any
    employees: dict[str, dict[str, Any]]  # employee_id -> EmployeeStatus item
    employers: dict[str, dict[str, Any]]  # employer_id -> EmployerStatus item
    payments: list[dict[str, Any]]  # the payment provider's record of this pay run
    notices: list[dict[str, Any]]
    dead_letters: dict[str, dict[str, Any]]  # employee_id -> process DLQ record


@pytest.fixture(scope="module")
def corpus(environment):
    from payroll_platform.local.api_gateway import DlqClient
    from payroll_platform.payrun import PayRunDriver, watch

    cloud = environment.cloud
    engine = _engine(environment)
    _seed(engine)
    driver = PayRunDriver(cloud.client, cloud.config.stage)
    dlq = DlqClient(cloud.redrive_api_url, caller="corpus")
    try:
        view = _trigger_alone(engine, driver)
        assert view.execution_arn, view.start
        assert view.start["employers"] == len(EMPLOYERS), view.start
        watch(driver, [view], timeout_s=420)
        driver.settle()
        yield CorpusRun(
            driver=driver,
            view=view,
            employees={i["employee_id"]: i for i in driver.employee_items(PAY_RUN_ID)},
            employers={e["employer_id"]: e for e in driver.employer_items(PAY_RUN_ID)},
            payments=driver.payments(PAY_RUN_ID),
            notices=driver.notices(PAY_RUN_ID),
            dead_letters=_process_dead_letters(cloud),
        )
    finally:
        _forget_corpus(cloud, dlq)
        dlq.close()


def _process_dead_letters(cloud: Any) -> dict[str, dict[str, Any]]:
    """employee_id -> this pay run's record on the process DLQ (exactly one each)."""
    from payroll_shared.names import PlatformParam

    queue = cloud.platform_param(PlatformParam.PROCESS_DLQ_URL)
    records: dict[str, dict[str, Any]] = {}
    for record in read_through(cloud, queue):
        if record.get("pay_run_id") != PAY_RUN_ID:
            continue
        assert record["employee_id"] not in records, f"two records: {record}"
        records[record["employee_id"]] = record
    return records


def _forget_corpus(cloud: Any, dlq: Any) -> None:
    """Leave the session's cloud as the other pay-run tests expect it: no dead letter
    and no status item of this pay run (they scan the whole tables)."""
    from payroll_shared.contracts import employee_pk
    from payroll_shared.names import PlatformParam

    for record in _process_dead_letters(cloud).values():
        status, answer = dlq.discard(
            record["record_id"], "bad-input corpus test: checked, cleaned up"
        )
        assert status == 200, answer
    dynamodb = cloud.client("dynamodb")
    employees = cloud.platform_param(PlatformParam.EMPLOYEE_STATUS_TABLE_NAME)
    employers = cloud.platform_param(PlatformParam.EMPLOYER_STATUS_TABLE_NAME)
    for employer_id in EMPLOYERS:
        pk = employee_pk(PAY_RUN_ID, employer_id)
        pages = dynamodb.get_paginator("query").paginate(
            TableName=employees,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="employee_id",
        )
        for item in (i for p in pages for i in p["Items"]):
            dynamodb.delete_item(
                TableName=employees, Key={"pk": {"S": pk}, "employee_id": item["employee_id"]}
            )
        dynamodb.delete_item(
            TableName=employers,
            Key={"pay_run_id": {"S": PAY_RUN_ID}, "employer_id": {"S": employer_id}},
        )


# ------------------------------------------------------------------ the run


def test_the_corpus_pay_run_completes(corpus):
    assert corpus.view.status == "SUCCEEDED"
    assert set(corpus.employers) == set(EMPLOYERS)
    active = [b.row for b in BAD_RECORDS] + GOOD_OF_BAD + CLEAN_EMPLOYEES + PAYMENT_EMPLOYEES
    assert set(corpus.employees) == {r["employee_id"] for r in active}  # not the inactive one


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.employee_id) for b in BAD_RECORDS])
def test_a_bad_record_fails_that_employee_at_its_step_naming_the_field(corpus, bad):
    item = corpus.employees[bad.employee_id]
    assert item["status"] == "FAILED", (bad.why, item)
    assert item["failed_step"] == bad.step, (bad.why, item)
    assert item["error_code"] == bad.code, (bad.why, item)
    assert bad.names in item["error_message"], (bad.why, item["error_message"])
    assert bad.employee_id in item["error_message"]
    # A data error keeps the fingerprint of the record it failed on (redrive compares).
    assert item["failed_record_sha256"]


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.employee_id) for b in BAD_RECORDS])
def test_a_bad_record_is_one_dead_letter_naming_the_field(corpus, bad):
    record = corpus.dead_letters[bad.employee_id]
    assert record["source"] == "process"
    assert record["employer_id"] == bad.row["employer_id"]
    assert record["step"] == bad.step
    assert record["error"]["code"] == bad.code
    assert bad.names in record["error"]["message"], (bad.why, record["error"])
    assert record["attempts"] == 1
    assert (
        record["payload"]["record_sha256"]
        == corpus.employees[bad.employee_id]["failed_record_sha256"]
    )


def test_the_good_employees_of_an_employer_with_bad_records_keep_their_calculation(corpus):
    """Design (employer-validation): any FAILED employee makes the employer
    NEEDS_REDRIVE and nobody of it is committed or paid; the others stay CALCULATED,
    their results stored, and are not dead-lettered."""
    assert corpus.employers[BAD]["status"] == "NEEDS_REDRIVE"
    assert corpus.employers[BAD]["failed"] == len(OF_BAD)
    assert corpus.employers[DEDUCTIONS]["status"] == "NEEDS_REDRIVE"
    for row in GOOD_OF_BAD:
        item = corpus.employees[row["employee_id"]]
        assert item["status"] == "CALCULATED", item
        assert Decimal(stored_results(item)["tax_calc"]["net_pay"]) > 0
        assert row["employee_id"] not in corpus.dead_letters
    bad_employer = {r["employee_id"] for r in GOOD_OF_BAD} | {b.employee_id for b in BAD_RECORDS}
    assert not [p for p in corpus.payments if p["reference"].split("/")[1] in bad_employer]
    assert BAD not in {n["employer_id"] for n in corpus.notices}
    # Exactly one record per bad employee, and none for anybody else of any employer.
    assert set(corpus.dead_letters) == {b.employee_id for b in BAD_RECORDS} | {"ee-corpus-d01"}


def _paid_once_with_the_net(corpus: CorpusRun, rows: list[dict[str, Any]]) -> None:
    accepted = [p for p in corpus.payments if p["status"] == "accepted"]
    references = Counter(p["reference"] for p in accepted)
    for row in rows:
        employee_id = row["employee_id"]
        item = corpus.employees[employee_id]
        assert item["status"] == "PAID", item
        reference = f"{PAY_RUN_ID}/{employee_id}"
        assert references[reference] == 1, f"{employee_id} paid {references[reference]} times"
        (payment,) = [p for p in accepted if p["reference"] == reference]
        assert Decimal(payment["amount"]) == Decimal(stored_results(item)["tax_calc"]["net_pay"])


def test_hostile_but_valid_records_are_paid_exactly_once(corpus):
    """Unicode, right-to-left and 200-character names, SQL-looking names and employer
    name, credits over the tax, a very high rate: all valid, all paid once, one notice."""
    assert corpus.employers[CLEAN]["status"] == "PAID"
    _paid_once_with_the_net(corpus, CLEAN_EMPLOYEES)
    (notice,) = [n for n in corpus.notices if n["employer_id"] == CLEAN]
    assert notice["status"] == "PAID"
    assert notice["employees_paid"] == len(CLEAN_EMPLOYEES)
    nets = [
        Decimal(stored_results(corpus.employees[r["employee_id"]])["tax_calc"]["net_pay"])
        for r in CLEAN_EMPLOYEES
    ]
    assert Decimal(notice["net_total"]) == sum(nets)


def test_w4_credits_over_the_tax_withhold_nothing_never_less(corpus):
    tax = stored_results(corpus.employees["ee-corpus-b04"])["tax_calc"]
    assert tax["federal_income_tax"] == "0.00"
    gross = Decimal(stored_results(corpus.employees["ee-corpus-b04"])["payroll_calc"]["gross_pay"])
    assert Decimal(tax["net_pay"]) == gross - Decimal(tax["social_security"]) - Decimal(
        tax["medicare"]
    )


def test_a_very_high_rate_is_paid_exactly_as_computed(corpus):
    gross = stored_results(corpus.employees["ee-corpus-b05"])["payroll_calc"]["gross_pay"]
    assert gross == "399999.60"  # 40 h x 9,999.99, no overtime


def test_an_employer_without_employees_is_paid_with_nobody_to_pay(corpus):
    """No active employee: nothing is calculated, committed or paid, and the employer
    still reaches a final state (PAID) with a notice saying nobody was paid, instead
    of waiting in COMMITTED for ever."""
    assert corpus.employers[EMPTY]["status"] == "PAID"
    assert int(corpus.employers[EMPTY]["employees"]) == 0
    assert not [p for p in corpus.payments if p["reference"].endswith("/ee-corpus-c01")]
    (notice,) = [n for n in corpus.notices if n["employer_id"] == EMPTY]
    assert notice["employees_paid"] == 0
    assert notice["net_total"] == "0.00"


def test_a_refused_bank_token_is_a_payment_dead_letter_and_its_colleague_is_paid(corpus):
    """The token is text the contract accepts (1-128 characters); the provider refuses
    it (400, field account_token). Design: a refused payment is a dead letter of source
    ``payment`` naming the field, the employer stays COMMITTED (not PAID, no notice),
    and the others of the employer are paid."""
    record = corpus.dead_letters["ee-corpus-d01"]
    assert record["source"] == "payment"
    assert record["employer_id"] == PAYMENT
    assert record["error"]["code"] == "invalid_request"
    assert "account_token" in record["error"]["message"]
    assert REFUSED_TOKEN not in json.dumps(record)  # the token itself is never copied
    # Committed in the ledger (and the employer COMMITTED), not paid: still CALCULATED.
    assert corpus.employees["ee-corpus-d01"]["status"] == "CALCULATED"
    assert not [
        p
        for p in corpus.payments
        if p["reference"].endswith("/ee-corpus-d01") and p["status"] == "accepted"
    ]
    _paid_once_with_the_net(corpus, [PAYMENT_EMPLOYEES[1]])
    assert corpus.employers[PAYMENT]["status"] == "COMMITTED"
    assert PAYMENT not in {n["employer_id"] for n in corpus.notices}


def test_sql_looking_text_is_stored_and_paid_as_text(corpus, environment):
    """The names went through the database, S3, the queues, DynamoDB and the ledger as
    data: the tables are all there, and the row reads back unchanged."""
    from sqlalchemy import func, select

    from payroll_platform.db.models import Employee, Employer, Payment

    with _engine(environment).connect() as connection:
        row = connection.execute(
            select(Employee.first_name, Employee.last_name).where(
                Employee.employee_id == "ee-corpus-b03"
            )
        ).one()
        assert tuple(row) == ("Robert'); DROP TABLE employees;--", "O'Brien' OR '1'='1")
        name = connection.execute(
            select(Employer.name).where(Employer.employer_id == CLEAN)
        ).scalar_one()
        assert name == EMPLOYERS[CLEAN]
        assert connection.execute(select(func.count()).select_from(Employee)).scalar_one() > 0
        assert connection.execute(select(func.count()).select_from(Payment)).scalar_one() > 0


# ------------------------------------------------------------------ the schema


def test_an_employee_id_cannot_be_under_two_employers(corpus, environment):
    """employee_id is the employees table's primary key: the same id under another
    employer (or twice under one) is refused at the insert, so no pay run can meet it.
    (A chunk naming one employee twice is refused by the StepRequest contract:
    test_corpus_messages.py.)"""
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from payroll_platform.db.models import Employee

    engine = _engine(environment)
    for employer_id in (CLEAN, BAD):
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(Employee), [salaried("ee-corpus-b01", employer_id)])
    with engine.connect() as connection:
        owner = connection.execute(
            select(Employee.employer_id).where(Employee.employee_id == "ee-corpus-b01")
        ).scalar_one()
    assert owner == CLEAN


def test_a_pay_type_that_does_not_exist_is_refused_by_the_schema(corpus, environment):
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from payroll_platform.db.models import Employee

    with pytest.raises(IntegrityError, match="pay_type"), _engine(environment).begin() as c:
        c.execute(insert(Employee), [salaried("ee-corpus-x01", CLEAN, pay_type="contractor")])


# ------------------------------------------------------------------ messages about it


def test_messages_for_an_employer_not_in_the_pay_run_are_dead_lettered(corpus, environment):
    """The pay run exists, the employer is not in it: straight to the queue's DLQ
    naming employer_id (UnknownEmployer), not retried."""
    cloud = environment.cloud
    sqs = cloud.client("sqs")
    bodies = {
        "employer-validation": {"pay_run": PAY_RUN, "employer_id": "er-corpus-z", "employees": 1},
        "money-movement": {
            "pay_run": PAY_RUN,
            "employer_id": "er-corpus-z",
            "statements": 1,
            "net_total": "1.00",
        },
    }
    for service, body in bodies.items():
        sqs.send_message(QueueUrl=queue_url(cloud, service), MessageBody=json.dumps(body))
    for service, body in bodies.items():
        queue = queue_url(cloud, service)
        found = collect(cloud, dlq_url(cloud, queue), [json.dumps(body)])
        attributes = attributes_of(found[json.dumps(body)])
        assert attributes["error_code"] == "UnknownEmployer", attributes
        assert attributes["error_field"] == "employer_id"
        assert "er-corpus-z" in attributes["error_reason"]


# ------------------------------------------------------------------ corrected, redriven


@dataclass
class Redriven:
    employees: dict[str, dict[str, Any]]
    payments: list[dict[str, Any]]
    notices: list[dict[str, Any]]
    dead_letters: dict[str, dict[str, Any]]
    nets_before: dict[str, str]  # the good employees' net pay from the first run


@pytest.fixture(scope="module")
def redriven(corpus, environment) -> Redriven:
    """A person corrects every bad record and redrives each employer (``payroll dlq
    redrive --all --employer-id``); then waits until employer A is paid and employer E
    has been validated again."""
    from sqlalchemy import delete, insert, update

    from payroll_platform.db.models import Employee, TimeEntry
    from payroll_platform.local.api_gateway import DlqClient

    with _engine(environment).begin() as connection:
        for bad in BAD_RECORDS:
            make = hourly if bad.row["pay_type"] == "hourly" else salaried
            corrected = make(bad.employee_id, bad.row["employer_id"])
            connection.execute(
                update(Employee).where(Employee.employee_id == bad.employee_id).values(corrected)
            )
            connection.execute(delete(TimeEntry).where(TimeEntry.employee_id == bad.employee_id))
            if corrected["pay_type"] == "hourly":
                connection.execute(insert(TimeEntry), full_week(bad.employee_id))
    dlq = DlqClient(environment.cloud.redrive_api_url, caller="corpus")
    try:
        for employer_id in (BAD, DEDUCTIONS):
            status, report = dlq.redrive_all(pay_run_id=PAY_RUN_ID, employer_id=employer_id)
            assert status == 200, report
            wanted = sum(1 for b in BAD_RECORDS if b.row["employer_id"] == employer_id)
            assert Counter(o["action"] for o in report["outcomes"]) == {"started": wanted}
    finally:
        dlq.close()

    driver = corpus.driver
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        employers = {e["employer_id"]: e for e in driver.employer_items(PAY_RUN_ID)}
        e01 = _process_dead_letters(environment.cloud).get("ee-corpus-e01", {})
        if employers[BAD]["status"] == "PAID" and (
            employers[DEDUCTIONS]["status"] == "PAID" or e01.get("attempts") == 2
        ):
            break
        time.sleep(1)
    driver.settle()
    return Redriven(
        employees={i["employee_id"]: i for i in driver.employee_items(PAY_RUN_ID)},
        payments=[p for p in driver.payments(PAY_RUN_ID) if p["status"] == "accepted"],
        notices=driver.notices(PAY_RUN_ID),
        dead_letters=_process_dead_letters(environment.cloud),
        nets_before={
            r["employee_id"]: stored_results(corpus.employees[r["employee_id"]])["tax_calc"][
                "net_pay"
            ]
            for r in GOOD_OF_BAD
        },
    )


def test_correcting_the_bad_records_and_redriving_pays_the_employer_once(redriven):
    """One redrive execution runs exactly the failed employees again; then every
    employee of the employer is paid exactly once, the good ones with the net pay
    calculated in the first run (their results were kept, not recomputed), nobody of
    another employer is paid again, one notice is published and its dead letters
    are gone."""
    everyone = [b.employee_id for b in OF_BAD] + [r["employee_id"] for r in GOOD_OF_BAD]
    references = Counter(p["reference"] for p in redriven.payments)
    assert all(count == 1 for count in references.values()), references
    amounts = {p["reference"]: Decimal(p["amount"]) for p in redriven.payments}
    for employee_id in everyone:
        item = redriven.employees[employee_id]
        assert item["status"] == "PAID", item
        net = Decimal(stored_results(item)["tax_calc"]["net_pay"])
        assert amounts[f"{PAY_RUN_ID}/{employee_id}"] == net
    for employee_id, net in redriven.nets_before.items():
        assert amounts[f"{PAY_RUN_ID}/{employee_id}"] == Decimal(net)
    (notice,) = [n for n in redriven.notices if n["employer_id"] == BAD]
    assert notice["employees_paid"] == len(everyone)
    assert not [r for r in redriven.dead_letters.values() if r["employer_id"] == BAD]


def test_a_deduction_corrected_after_its_step_succeeded_is_paid_after_a_redrive(redriven):
    item = redriven.employees["ee-corpus-e01"]
    assert item["status"] == "PAID", (
        item["status"],
        item.get("error_message"),
        redriven.dead_letters.get("ee-corpus-e01", {}).get("attempts"),
    )
