"""PayrollCalc step: gross pay."""
