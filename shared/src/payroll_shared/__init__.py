"""Shared contracts and common code of the payroll platform."""
