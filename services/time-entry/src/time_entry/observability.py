"""Powertools for this service, created once."""

from payroll_shared.observability import powertools

logger, tracer, metrics = powertools("time-entry")
