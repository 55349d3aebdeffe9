"""TaxCalc step: withholding, FICA and net pay."""
