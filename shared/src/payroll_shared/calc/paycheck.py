"""The paycheck: the public entry point of the payroll math.

``compute_paycheck(PaycheckInput) -> PaycheckOutput`` is what the ``payroll paycheck``
command and the step services call, so they can never disagree. It validates the
input (pydantic, unknown fields rejected, amounts as strings), converts it to plain
frozen dataclasses and runs ``calculate``: the fast internal path (no validation in
the inner loop) that the benchmark measures.

Order of the computation: hours -> gross pay -> retirement -> taxes -> net pay.
Wage bases:
- FICA wages = gross - section 125 (traditional 401(k) deferrals stay FICA wages);
- federal income-tax wages = FICA wages - traditional (pre-tax) deferral;
- state wages per state (see ``tax.state_withholding``).
Net pay = gross - employee taxes - employee deductions (all deferrals, Roth too,
and section 125), to the cent; a negative net pay raises ``NegativeNetPay``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from payroll_shared.calc.errors import NegativeNetPay
from payroll_shared.calc.gross import GrossPay, gross_pay
from payroll_shared.calc.hours import NO_HOURS, Hours, classify_hours
from payroll_shared.calc.retirement import (
    RetirementContributions,
    RetirementElectionInput,
    RetirementYtd,
    retirement_contributions,
)
from payroll_shared.calc.tables import tables_for
from payroll_shared.calc.tax import (
    FicaTaxes,
    StateTax,
    W4Input,
    federal_withholding,
    fica_taxes,
    state_withholding,
)
from payroll_shared.contracts.employee import (
    FilingStatus,
    OvertimeRule,
    PayType,
    RetirementElection,
)
from payroll_shared.money import ZERO, Money, Quantity
from payroll_shared.payrun import PayFrequency

# --------------------------------------------------------------------------- input

_HOURLY = PayType.HOURLY
PERIODS_PER_YEAR = {frequency: frequency.periods_per_year for frequency in PayFrequency}

NonNegativeMoney = Annotated[Money, Field(ge=0)]
Week = Annotated[list[Quantity], Field(min_length=7, max_length=7)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaycheckW4(_Model):
    """Form W-4. ``form_year`` 2020 or later: Steps 2-4; earlier: ``allowances``
    (filing status ``married_filing_jointly`` stands for "Married", anything else
    for "Single"); ``step4c_extra_withholding`` is then the extra amount of line 6/7."""

    filing_status: FilingStatus
    step2_checkbox: bool = False
    step3_credits: NonNegativeMoney = ZERO
    step4a_other_income: NonNegativeMoney = ZERO
    step4b_deductions: NonNegativeMoney = ZERO
    step4c_extra_withholding: NonNegativeMoney = ZERO
    form_year: int = Field(default=2020, ge=1987, le=2100)
    allowances: int | None = Field(default=None, ge=0, le=99, validate_default=True)

    @field_validator("allowances", mode="after")
    @classmethod
    def _allowances_for_old_forms(cls, value: int | None, info: ValidationInfo) -> int | None:
        form_year = info.data.get("form_year")
        if value is None and isinstance(form_year, int) and form_year < 2020:
            raise ValueError("allowances is required on a W-4 from before 2020")
        return value


class PaycheckYtd(_Model):
    """Year-to-date figures with this employer, before this period. ``fica_wages``
    are Social Security wages (uncapped or capped: only the remainder under the base
    matters). ``compensation`` (401(a)(17)) defaults to ``gross``; ``futa_wages`` to
    ``fica_wages``."""

    gross: NonNegativeMoney
    fica_wages: NonNegativeMoney
    medicare_wages: NonNegativeMoney
    retirement_deferrals: NonNegativeMoney
    employer_match: NonNegativeMoney = ZERO
    compensation: NonNegativeMoney | None = None
    futa_wages: NonNegativeMoney | None = None
    prior_year_fica_wages: NonNegativeMoney = ZERO


class PaycheckInput(_Model):
    """One employee's period. ``age`` is the age the employee reaches by the end of
    the tax year (it decides catch-up eligibility)."""

    tax_year: int
    pay_frequency: PayFrequency
    pay_type: PayType
    annual_salary: Money | None = Field(default=None, validate_default=True)
    hourly_rate: Money | None = Field(default=None, validate_default=True)
    daily_hours: list[Week] | None = Field(default=None, validate_default=True)
    overtime_rule: OvertimeRule = OvertimeRule.FLSA
    w4: PaycheckW4
    work_state: str = Field(pattern=r"^[A-Z]{2}$")
    state_withholding: dict[str, str | int] = Field(default_factory=dict)
    retirement: RetirementElection = Field(default_factory=RetirementElection)
    age: int = Field(ge=0, le=130)
    ytd: PaycheckYtd
    bonus: NonNegativeMoney = ZERO
    other_earnings: NonNegativeMoney = ZERO
    section125: NonNegativeMoney = ZERO

    @field_validator("annual_salary", "hourly_rate", mode="after")
    @classmethod
    def _pay_rate(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        needed = PayType.SALARY if info.field_name == "annual_salary" else PayType.HOURLY
        if info.data.get("pay_type") is needed:
            if value is None:
                raise ValueError(f"{info.field_name} is required for a {needed.value} employee")
            if value <= 0:
                raise ValueError(f"{info.field_name} must be positive")
        return value

    @field_validator("daily_hours", mode="after")
    @classmethod
    def _hours_for_hourly(
        cls, value: list[list[Decimal]] | None, info: ValidationInfo
    ) -> list[list[Decimal]] | None:
        if info.data.get("pay_type") is PayType.HOURLY and value is None:
            raise ValueError("daily_hours is required for an hourly employee")
        return value


# ----------------------------------------------------------------- fast internal path


@dataclass(frozen=True, slots=True)
class Ytd:
    gross: Decimal = ZERO
    fica_wages: Decimal = ZERO
    medicare_wages: Decimal = ZERO
    retirement_deferrals: Decimal = ZERO
    employer_match: Decimal = ZERO
    compensation: Decimal | None = None
    futa_wages: Decimal | None = None
    prior_year_fica_wages: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PaycheckRequest:
    """The plain-data twin of ``PaycheckInput`` (already validated values)."""

    tax_year: int
    pay_frequency: PayFrequency
    pay_type: PayType
    w4: W4Input
    work_state: str
    age: int
    annual_salary: Decimal | None = None
    hourly_rate: Decimal | None = None
    daily_hours: Sequence[Sequence[Decimal]] = ()
    overtime_rule: OvertimeRule = OvertimeRule.FLSA
    state_fields: Mapping[str, str] = field(default_factory=dict)
    retirement: RetirementElectionInput = field(default_factory=RetirementElectionInput)
    ytd: Ytd = field(default_factory=Ytd)
    bonus: Decimal = ZERO
    other_earnings: Decimal = ZERO
    section125: Decimal = ZERO


class Paycheck(NamedTuple):
    tax_year: int
    gross: GrossPay
    retirement: RetirementContributions
    federal_taxable_wages: Decimal
    federal_income_tax: Decimal
    fica: FicaTaxes
    state: StateTax
    employee_taxes: Decimal
    deductions: Decimal
    net_pay: Decimal

    @property
    def hours(self) -> Hours:
        return self.gross.hours


def calculate(request: PaycheckRequest) -> Paycheck:
    """The paycheck of one employee's period from validated plain data."""
    tables = tables_for(request.tax_year)
    periods = PERIODS_PER_YEAR[request.pay_frequency]
    hours = (
        classify_hours(request.daily_hours, request.overtime_rule)
        if request.pay_type is _HOURLY
        else NO_HOURS
    )
    gross = gross_pay(
        pay_type=request.pay_type,
        pay_frequency=request.pay_frequency,
        annual_salary=request.annual_salary,
        hourly_rate=request.hourly_rate,
        hours=hours,
        bonus=request.bonus,
        other_earnings=request.other_earnings,
        section125=request.section125,
    )
    ytd = request.ytd
    retirement = retirement_contributions(
        tables.retirement,
        request.retirement,
        pay=gross.gross_pay,
        age_at_year_end=request.age,
        ytd=RetirementYtd(
            ytd.retirement_deferrals,  # deferrals
            ytd.employer_match,
            ytd.gross if ytd.compensation is None else ytd.compensation,  # compensation
            ytd.prior_year_fica_wages,
        ),
    )
    fica_wages = gross.gross_pay - gross.section125
    federal_wages = fica_wages - retirement.pre_tax_deferral
    federal = federal_withholding(tables.federal_withholding, request.w4, federal_wages, periods)
    fica = fica_taxes(
        tables.fica,
        tables.futa,
        fica_wages=fica_wages,
        ytd_social_security_wages=ytd.fica_wages,
        ytd_medicare_wages=ytd.medicare_wages,
        ytd_futa_wages=ytd.fica_wages if ytd.futa_wages is None else ytd.futa_wages,
    )
    state = state_withholding(
        tables.state,
        request.work_state,
        gross=gross.gross_pay,
        section125=gross.section125,
        pre_tax_deferral=retirement.pre_tax_deferral,
        periods=periods,
        fields=request.state_fields,
    )
    employee_taxes = (
        federal + fica.social_security + fica.medicare + fica.additional_medicare
    ) + state.withholding
    deductions = retirement.deferral + gross.section125
    net = gross.gross_pay - employee_taxes - deductions
    if net < 0:
        raise NegativeNetPay(str(-net))
    return Paycheck(
        tax_year=request.tax_year,
        gross=gross,
        retirement=retirement,
        federal_taxable_wages=federal_wages,
        federal_income_tax=federal,
        fica=fica,
        state=state,
        employee_taxes=employee_taxes,
        deductions=deductions,
        net_pay=net,
    )


def to_request(paycheck_input: PaycheckInput) -> PaycheckRequest:
    p = paycheck_input
    w4 = p.w4
    election = p.retirement
    ytd = p.ytd
    return PaycheckRequest(
        tax_year=p.tax_year,
        pay_frequency=p.pay_frequency,
        pay_type=p.pay_type,
        w4=W4Input(
            filing_status=w4.filing_status,
            step2_checkbox=w4.step2_checkbox,
            step3_credits=w4.step3_credits,
            step4a_other_income=w4.step4a_other_income,
            step4b_deductions=w4.step4b_deductions,
            step4c_extra_withholding=w4.step4c_extra_withholding,
            form_year=w4.form_year,
            allowances=w4.allowances,
        ),
        work_state=p.work_state,
        age=p.age,
        annual_salary=p.annual_salary,
        hourly_rate=p.hourly_rate,
        daily_hours=tuple(tuple(week) for week in p.daily_hours or ()),
        overtime_rule=p.overtime_rule,
        state_fields={key: str(value) for key, value in p.state_withholding.items()},
        retirement=RetirementElectionInput(
            deferral_percent=election.deferral_percent,
            deferral_amount=election.deferral_amount,
            roth=election.roth,
            match_formula=election.match_formula,
            match_percent=election.match_percent,
            match_cap_percent=election.match_cap_percent,
        ),
        ytd=Ytd(
            gross=ytd.gross,
            fica_wages=ytd.fica_wages,
            medicare_wages=ytd.medicare_wages,
            retirement_deferrals=ytd.retirement_deferrals,
            employer_match=ytd.employer_match,
            compensation=ytd.compensation,
            futa_wages=ytd.futa_wages,
            prior_year_fica_wages=ytd.prior_year_fica_wages,
        ),
        bonus=p.bonus,
        other_earnings=p.other_earnings,
        section125=p.section125,
    )


# -------------------------------------------------------------------------- output


class PaycheckOutput(_Model):
    """The computed paycheck; every amount a two-decimal string."""

    tax_year: int
    gross_pay: Money
    regular_pay: Money
    overtime_pay: Money
    double_time_pay: Money
    bonus: Money
    other_earnings: Money
    regular_hours: Quantity
    overtime_hours: Quantity
    double_time_hours: Quantity
    federal_taxable_wages: Money
    social_security_wages: Money
    medicare_wages: Money
    additional_medicare_wages: Money
    futa_wages: Money
    state_taxable_wages: Money
    federal_income_tax: Money
    social_security: Money
    medicare: Money
    additional_medicare: Money
    state_income_tax: Money
    retirement_deferral: Money
    pre_tax_deferral: Money
    roth_deferral: Money
    catch_up: Money
    roth_catch_up: Money
    section125: Money
    employer_match: Money
    employer_social_security: Money
    employer_medicare: Money
    futa: Money
    employee_taxes: Money
    deductions: Money
    net_pay: Money

    @classmethod
    def from_paycheck(cls, paycheck: Paycheck) -> PaycheckOutput:
        g, r, f, s = paycheck.gross, paycheck.retirement, paycheck.fica, paycheck.state
        return cls(
            tax_year=paycheck.tax_year,
            gross_pay=g.gross_pay,
            regular_pay=g.regular_pay,
            overtime_pay=g.overtime_pay,
            double_time_pay=g.double_time_pay,
            bonus=g.bonus,
            other_earnings=g.other_earnings,
            regular_hours=g.hours.regular,
            overtime_hours=g.hours.overtime,
            double_time_hours=g.hours.double_time,
            federal_taxable_wages=paycheck.federal_taxable_wages,
            social_security_wages=f.social_security_wages,
            medicare_wages=f.medicare_wages,
            additional_medicare_wages=f.additional_medicare_wages,
            futa_wages=f.futa_wages,
            state_taxable_wages=s.taxable_wages,
            federal_income_tax=paycheck.federal_income_tax,
            social_security=f.social_security,
            medicare=f.medicare,
            additional_medicare=f.additional_medicare,
            state_income_tax=s.withholding,
            retirement_deferral=r.deferral,
            pre_tax_deferral=r.pre_tax_deferral,
            roth_deferral=r.roth_deferral,
            catch_up=r.catch_up,
            roth_catch_up=r.roth_catch_up,
            section125=g.section125,
            employer_match=r.employer_match,
            employer_social_security=f.employer_social_security,
            employer_medicare=f.employer_medicare,
            futa=f.futa,
            employee_taxes=paycheck.employee_taxes,
            deductions=paycheck.deductions,
            net_pay=paycheck.net_pay,
        )


def compute_paycheck(paycheck_input: PaycheckInput) -> PaycheckOutput:
    """The public entry point: a validated input in, the paycheck out.

    Raises ``PaycheckError`` (``UnknownTaxYear``, ``HoursError``, ``UnsupportedState``,
    ``NegativeNetPay``) naming the field at fault."""
    return PaycheckOutput.from_paycheck(calculate(to_request(paycheck_input)))


def compute_paycheck_json(data: Mapping[str, Any]) -> PaycheckOutput:
    """Validate a decoded JSON object (raises pydantic ``ValidationError``) and compute."""
    return compute_paycheck(PaycheckInput.model_validate(data))
