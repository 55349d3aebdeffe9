"""The public entry point and the command: whole paychecks worked by hand, and errors
that name the field."""

import io
import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from payroll_shared.calc import (
    HoursError,
    NegativeNetPay,
    PaycheckInput,
    UnknownTaxYear,
    UnsupportedState,
    compute_paycheck,
)
from payroll_shared.calc.command import main

D = Decimal


def salaried(**overrides):
    data = {
        "tax_year": 2026,
        "pay_frequency": "biweekly",
        "pay_type": "salary",
        "annual_salary": "65000.00",
        "w4": {
            "filing_status": "single",
            "step2_checkbox": False,
            "step3_credits": "0.00",
            "step4a_other_income": "0.00",
            "step4b_deductions": "0.00",
            "step4c_extra_withholding": "0.00",
        },
        "work_state": "TX",
        "state_withholding": {},
        "retirement": {
            "deferral_percent": "6",
            "roth": False,
            "match_formula": "safe_harbor_basic",
        },
        "age": 30,
        "ytd": {
            "gross": "0.00",
            "fica_wages": "0.00",
            "medicare_wages": "0.00",
            "retirement_deferrals": "0.00",
        },
        "section125": "50.00",
    }
    data.update(overrides)
    return data


def hourly(**overrides):
    data = salaried(
        pay_type="hourly",
        pay_frequency="weekly",
        hourly_rate="20.00",
        daily_hours=[["10", "10", "10", "10", "10", "0", "0"]],
        overtime_rule="flsa",
        retirement={},
        section125="0.00",
    )
    del data["annual_salary"]
    data.update(overrides)
    return data


def run(data):
    return compute_paycheck(PaycheckInput.model_validate(data)).model_dump(mode="json")


def test_salaried_texas_paycheck_by_hand():
    # gross 65,000 / 26 = 2,500.00; 401(k) 6% = 150.00; safe harbor 75 + 50% x 50 = 100.00
    # FICA wages 2,500 - 50 = 2,450: SS 151.90, Medicare 35.525 -> 35.53, FUTA 14.70
    # federal wages 2,450 - 150 = 2,300 x 26 = 59,800 - 8,600 = 51,200;
    #   1,240 + 31,300 x 12% = 4,996; /26 = 192.1538 -> 192.15; TX: 0
    # net = 2,500 - (192.15 + 151.90 + 35.53) - (150 + 50) = 1,920.42
    out = run(salaried())
    assert out["gross_pay"] == "2500.00"
    assert out["retirement_deferral"] == "150.00"
    assert out["employer_match"] == "100.00"
    assert out["social_security"] == out["employer_social_security"] == "151.90"
    assert out["medicare"] == out["employer_medicare"] == "35.53"
    assert out["futa"] == "14.70"
    assert out["federal_taxable_wages"] == "2300.00"
    assert out["federal_income_tax"] == "192.15"
    assert out["state_income_tax"] == "0.00"
    assert out["net_pay"] == "1920.42"


def test_hourly_illinois_paycheck_by_hand():
    # 50 h at 20: 800 + 10 x 30 = 1,100; weekly, no 401(k)
    # SS 68.20, Medicare 15.95; federal 1,100 x 52 = 57,200 - 8,600 = 48,600;
    #   1,240 + 28,700 x 12% = 4,684; /52 = 90.0769 -> 90.08
    # IL: (1 x 2,925) / 52 = 56.25; (1,100 - 56.25) x 4.95% = 51.665625 -> 51.67
    # net = 1,100 - 68.20 - 15.95 - 90.08 - 51.67 = 874.10
    out = run(hourly(work_state="IL", state_withholding={"il_line1_allowances": "1"}))
    assert (out["regular_hours"], out["overtime_hours"]) == ("40", "10")
    assert out["gross_pay"] == "1100.00"
    assert (out["federal_income_tax"], out["state_income_tax"]) == ("90.08", "51.67")
    assert out["net_pay"] == "874.10"


def test_pennsylvania_paycheck():
    # 2,500 - 50 s125 = 2,450 x 3.07% = 75.215 -> 75.22 (the 150 401(k) stays taxable)
    assert run(salaried(work_state="PA"))["state_income_tax"] == "75.22"


def test_unsupported_state_is_an_error():
    with pytest.raises(UnsupportedState):
        run(salaried(work_state="CA"))


def test_unknown_tax_year():
    with pytest.raises(UnknownTaxYear):
        run(salaried(tax_year=2024))


def test_pre_2020_w4_through_the_entry_point():
    w4 = {"filing_status": "married_filing_jointly", "form_year": 2019, "allowances": 3}
    # wages 2,300 x 26 = 59,800 - 12,900 = 46,900; MFJ: 2,480 + 2,800 x 12% = 2,816; /26
    assert run(salaried(w4=w4))["federal_income_tax"] == "108.31"


def test_net_pay_adds_up():
    out = run(salaried(work_state="PA"))
    taxes = sum(
        D(out[k])
        for k in (
            "federal_income_tax",
            "social_security",
            "medicare",
            "additional_medicare",
            "state_income_tax",
        )
    )
    deductions = D(out["retirement_deferral"]) + D(out["section125"])
    assert D(out["net_pay"]) + taxes + deductions == D(out["gross_pay"])


def test_negative_net_pay_is_an_error():
    # 1,200 a year monthly = 100; a 100% deferral leaves nothing for FICA (7.65)
    data = salaried(
        annual_salary="1200.00",
        pay_frequency="monthly",
        section125="0.00",
        retirement={"deferral_percent": "100"},
    )
    with pytest.raises(NegativeNetPay) as caught:
        run(data)
    assert caught.value.field == "net_pay"
    assert "7.65" in str(caught.value)


def field_of(exc: ValidationError) -> str:
    return ".".join(str(p) for p in exc.errors()[0]["loc"])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (hourly(hourly_rate=None), "hourly_rate"),
        (salaried(annual_salary=None), "annual_salary"),
        (hourly(daily_hours=None), "daily_hours"),
        (hourly(daily_hours=[["8"] * 6]), "daily_hours.0"),
        (salaried(annual_salary=65000.0), "annual_salary"),  # a float: never
        (salaried(bonus="12.345"), "bonus"),
        (salaried(work_state="Texas"), "work_state"),
        (salaried(pay_frequency="daily"), "pay_frequency"),
        (salaried(w4={"filing_status": "single", "form_year": 2019}), "w4.allowances"),
        (salaried(w4={"filing_status": "widowed"}), "w4.filing_status"),
        (salaried(ytd={"gross": "0"}), "ytd.fica_wages"),
        (salaried(ytd={**salaried()["ytd"], "gross": "-1.00"}), "ytd.gross"),
        (salaried(surprise=1), "surprise"),
        (salaried(retirement={"deferral_percent": "101"}), "retirement"),
    ],
)
def test_invalid_input_names_the_field(data, field):
    with pytest.raises(ValidationError) as caught:
        PaycheckInput.model_validate(data)
    assert field_of(caught.value).startswith(field)


def test_impossible_hours_name_the_day():
    with pytest.raises(HoursError) as caught:
        run(hourly(daily_hours=[["8", "8", "25", "8", "8", "0", "0"]]))
    assert caught.value.field == "daily_hours.0.2"


def test_command_prints_the_paycheck(tmp_path, capsys):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(salaried()))
    assert main([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["net_pay"] == "1920.42"


def test_command_reads_stdin_and_json_decimals(monkeypatch, capsys):
    # JSON numbers for hours (7.5) are read as exact decimals
    data = json.dumps(hourly(daily_hours=[[7.5, 8, 8, 8, 8, 0, 0]]))
    monkeypatch.setattr("sys.stdin", io.StringIO(data))
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out)["regular_hours"] == "39.5"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (hourly(hourly_rate=None), "hourly_rate"),
        (salaried(work_state="NY"), "work_state"),
        (salaried(tax_year=1999), "tax_year"),
        (hourly(daily_hours=[["8", "-1", "8", "8", "8", "0", "0"]]), "daily_hours.0.1"),
    ],
)
def test_command_exit_2_names_the_field(data, needle, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    assert main(["-"]) == 2
    assert needle in capsys.readouterr().err


def test_command_not_json(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("{nope"))
    assert main([]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_command_negative_net_exit_1(monkeypatch, capsys):
    data = salaried(
        annual_salary="1200.00",
        pay_frequency="monthly",
        section125="0.00",
        retirement={"deferral_percent": "100"},
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    assert main([]) == 1
    assert "net_pay" in capsys.readouterr().err


def test_command_missing_file(capsys):
    assert main(["/nonexistent/paycheck.json"]) == 2
