"""Synthesize the composed CDK app for the local cloud, cached by a hash of its inputs.

The inputs are every file that can change a template or an asset: the stacks, the
shared constructs, the service sources (Lambda assets) and the CDK versions. A second
run with the same inputs reuses the cloud assembly instead of synthesizing again.

A synthesis runs in a child process (``python -m payroll_platform.local.synth``). The
CDK's Python modules and the jsii Node.js process it starts (about 0.3 GiB together)
stay alive as long as the process that imported them; in the local cloud's own process
they sat beside moto for the whole run, and a benchmark whose synthesis missed its
cache measured them as part of the pay run (2,561 MiB where the cached run measured
1,775).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from payroll_platform.paths import REPO_ROOT

CACHE_DIR = REPO_ROOT / ".cdk-cache"
_INPUT_DIRS = ("shared/src", "platform/src/payroll_platform/infra", "services")
_SKIP_PARTS = {"__pycache__", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


@dataclass(frozen=True)
class SynthesizedStack:
    name: str
    template: dict[str, Any]
    assets: dict[str, Any]
    directory: Path


def inputs_hash(context: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(context, sort_keys=True).encode())
    for package in ("aws-cdk-lib", "cdk-nag", "constructs"):
        digest.update(f"{package}={metadata.version(package)}".encode())
    for top in _INPUT_DIRS:
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if not path.is_file() or _SKIP_PARTS.intersection(path.parts):
                continue
            if path.suffix in {".pyc"}:
                continue
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


#: Assemblies kept: runs with different contexts at once (the end-to-end tests, a chaos
#: run, ``make run``) must not delete the one another is deploying from.
KEEP_ASSEMBLIES = 6


def _prune(keep: str) -> None:
    """Keep the cache small: the newest ``KEEP_ASSEMBLIES`` assemblies (and ``keep``)."""
    assemblies = sorted(
        (p for p in CACHE_DIR.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in assemblies[KEEP_ASSEMBLIES:]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def synthesize(
    stage: str = "local", extra_context: dict[str, str] | None = None
) -> list[SynthesizedStack]:
    """The stacks in deploy order, from the cache or freshly synthesized."""
    context = {"payroll:local": "true", "payroll:stage": stage, **(extra_context or {})}
    key = inputs_hash(context)
    outdir = CACHE_DIR / key
    manifest = outdir / "deploy-order.json"
    if not manifest.exists():
        subprocess.run(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", __name__, json.dumps(context)], check=True
        )
    order = json.loads(manifest.read_text())
    result = []
    for name in order:
        template = json.loads((outdir / f"{name}.template.json").read_text())
        assets_file = outdir / f"{name}.assets.json"
        assets = json.loads(assets_file.read_text()) if assets_file.exists() else {}
        result.append(SynthesizedStack(name, template, assets, outdir))
    return result


def assemble(context: dict[str, str]) -> Path:
    """Synthesize the app for ``context`` into the cache (what the child process runs)."""
    key = inputs_hash(context)
    outdir = CACHE_DIR / key
    if (outdir / "deploy-order.json").exists():
        return outdir
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from payroll_platform.infra.composed import build_app

    # Synthesize into a folder of this process's own, then move it into place, so two
    # runs at once (a test and `make run`) never see half an assembly.
    tmp = CACHE_DIR / f"{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    app, stacks = build_app(context, outdir=tmp, nag=False)
    app.synth()
    (tmp / "deploy-order.json").write_text(
        json.dumps([stack.stack_name for stack in stacks.values()])
    )
    try:
        tmp.rename(outdir)
    except OSError:  # another run put the same assembly in place first
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(keep=key)
    return outdir


if __name__ == "__main__":
    assemble(json.loads(sys.argv[1]))
