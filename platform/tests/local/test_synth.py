"""The local cloud's synthesis: cached, and run in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

from payroll_platform.local import synth

#: A context of this test's own: its assembly is cached apart from the runs' ones.
CONTEXT = {"payroll:synth-test": "1"}


def test_the_synthesis_runs_in_a_child_and_leaves_the_cdk_out_of_the_caller():
    """The CDK's modules and its jsii Node.js process stay with the child that
    synthesized: the caller (the local cloud's process) reads the cached assembly."""
    script = (
        "import json, sys\n"
        "from payroll_platform.local.synth import synthesize\n"
        f"stacks = synthesize(extra_context={CONTEXT!r})\n"
        "print(json.dumps({'stacks': [s.name for s in stacks],"
        " 'cdk_imported': 'aws_cdk' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=600
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["cdk_imported"] is False
    assert "PayrollLocalOrchestration" in answer["stacks"]
    context = {"payroll:local": "true", "payroll:stage": "local", **CONTEXT}
    outdir = synth.CACHE_DIR / synth.inputs_hash(context)
    assert json.loads((outdir / "deploy-order.json").read_text()) == answer["stacks"]
