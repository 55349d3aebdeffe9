"""The base of every contract: strict, frozen, versioned."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class Contract(BaseModel):
    """A message that crosses a service boundary.

    Every subclass declares ``schema_version: Literal["N"] = "N"`` and bumps N whenever
    its JSON Schema changes; the exported schema files and a test keep the two in step.
    Unknown fields are rejected so a producer's typo is an error, not silently dropped data.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Part(BaseModel):
    """A nested part of a contract (versioned with the contract that holds it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(exc: ValidationError, record: str | None = None) -> str:
    """One line per problem, each naming the field path: ``items.0.hourly_rate: Field required``."""
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "<message>"
        problems.append(f"{location}: {error['msg']}")
    prefix = f"{record}: " if record else ""
    return prefix + "; ".join(problems)


def first_error_field(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if not errors:
        return ""
    return ".".join(str(part) for part in errors[0]["loc"])
