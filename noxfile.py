"""Sessions per service, discovered from services/*/pyproject.toml.

    nox -l                                   # list
    nox -s "tests(service='tax-calc')"       # one service's tests (unit, handler, infra)
    nox -s "synth(service='tax-calc')"       # synthesize one service's stack alone
    nox -s "typecheck(service='tax-calc')"   # mypy --strict on the service's logic
    nox -s lint shared platform e2e

Each session gets its own venv (uv backend: eight service venvs install from one cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
SERVICES = sorted(p.parent.name for p in ROOT.glob("services/*/pyproject.toml"))
#: Services whose code uses the relational database (payroll_platform.db).
USES_PLATFORM = {
    s
    for s in SERVICES
    if "payroll-platform" in (ROOT / "services" / s / "pyproject.toml").read_text()
}
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
#: What the tests need besides the code: moto's server and cheroot, which serves it and
#: the payment emulator (``payroll_platform.local.http_server``) in the handler tests.
TEST_TOOLS = ("pytest", "pytest-socket", "hypothesis", "moto[server]", "cheroot")
CDK_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "shared", "typecheck", "tests", "platform", "e2e", "chaos"]


def _install_service(session: nox.Session, service: str, *extra: str) -> None:
    packages = ["-e", "shared[infra]"]
    if service in USES_PLATFORM:
        packages += ["-e", "platform"]
    packages += ["-e", f"services/{service}[infra]"]
    session.install(*packages, *extra, *CONSTRAINTS)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff", *CONSTRAINTS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def shared(session: nox.Session) -> None:
    """The shared package: contracts, schemas, money; mypy --strict on all of it."""
    session.install("-e", "shared[infra]", "mypy", *TEST_TOOLS, *CONSTRAINTS)
    session.run("mypy", "--strict", "-p", "payroll_shared", env=CDK_ENV)
    session.run("pytest", "-q", "shared/tests", *session.posargs, env=CDK_ENV)
    # The benchmark is not a test: here it only proves it runs (the README shows the real one).
    session.run("python", "shared/bench/bench_paycheck.py", "--n", "500", "--repeat", "1")


@nox.session
@nox.parametrize("service", SERVICES)
def typecheck(session: nox.Session, service: str) -> None:
    """mypy --strict on the service's pure logic."""
    _install_service(session, service, "mypy")
    package = service.replace("-", "_")
    modules = [
        f"{package}.{p.stem}" for p in ROOT.glob(f"services/{service}/src/{package}/logic*.py")
    ]
    session.run("mypy", "--strict", *[arg for m in modules for arg in ("-m", m)])


@nox.session
@nox.parametrize("service", SERVICES)
def tests(session: nox.Session, service: str) -> None:
    """Unit, handler (against moto) and CDK assertion tests of one service."""
    _install_service(session, service, *TEST_TOOLS)
    session.run("pytest", "-q", f"services/{service}/tests", *session.posargs, env=CDK_ENV)


@nox.session
@nox.parametrize("service", SERVICES)
def synth(session: nox.Session, service: str) -> None:
    """Synthesize the service's own CDK app, as ``cdk synth`` would before a deploy."""
    _install_service(session, service)
    outdir = session.create_tmp()
    session.run(
        "python",
        f"services/{service}/infra/app.py",
        env={
            **CDK_ENV,
            "CDK_OUTDIR": outdir,
            "CDK_CONTEXT_JSON": '{"payroll:local": "true"}',
        },
    )
    session.log(f"templates in {outdir}")


@nox.session
def platform(session: nox.Session) -> None:
    """PlatformStack assertions, the composed app, the database, the local cloud."""
    session.install(
        "-e", "shared[infra]", "-e", "platform[local,infra,postgres]",
        *[arg for s in SERVICES for arg in ("-e", f"services/{s}")],
        *TEST_TOOLS, *CONSTRAINTS,
    )  # fmt: skip
    session.run("pytest", "-q", "platform/tests", *session.posargs, env=CDK_ENV)


def _install_all(session: nox.Session) -> None:
    session.install(
        "-e", "shared[infra]", "-e", "platform[local,infra,postgres]",
        *[arg for s in SERVICES for arg in ("-e", f"services/{s}")],
        *TEST_TOOLS, *CONSTRAINTS,
    )  # fmt: skip


@nox.session
def e2e(session: nox.Session) -> None:
    """A pay run through the deployed state machine on the local cloud."""
    _install_all(session)
    env = {**CDK_ENV, **({"STAGING": os.environ["STAGING"]} if "STAGING" in os.environ else {})}
    session.run("pytest", "-q", "tests-e2e", "-m", "not chaos", *session.posargs, env=env)


@nox.session
def chaos(session: nox.Session) -> None:
    """Chaos runs of seeds 1-20 at a small size, and one with a protection switched off
    (``CHAOS_SEEDS=3 nox -s chaos`` for fewer seeds)."""
    _install_all(session)
    env = {**CDK_ENV, **{k: os.environ[k] for k in ("CHAOS_SEEDS",) if k in os.environ}}
    session.run("pytest", "-q", "tests-e2e/test_chaos.py", *session.posargs, env=env)
