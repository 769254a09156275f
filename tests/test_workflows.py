"""The GitHub workflows in .github/workflows/: actionlint passes on each, and the GPU workflow holds what README's
"GPU CI" section explains (runner labels, Hub cache, pinned revision, matrix, artifacts, target-branch baseline,
first-run history)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint() -> str | None:
    """$EVALKIT_ACTIONLINT, the one installed next to this Python (the `dev` and `ci` extras), or PATH's."""
    given = os.environ.get("EVALKIT_ACTIONLINT")
    if given:
        return given
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def test_there_are_a_cpu_and_a_gpu_workflow():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "gpu-benchmarks.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint_passes(workflow):
    binary = _actionlint()
    if binary is None:
        pytest.skip('actionlint not found: pip install -e ".[ci]", or set EVALKIT_ACTIONLINT')
    result = subprocess.run(
        [binary, "-no-color", str(workflow.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,  # so that it reads .github/actionlint.yaml (the GPU runner's labels)
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _steps(workflow: str) -> tuple[dict, list[dict]]:
    data = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8"))
    (job,) = data["jobs"].values()
    return data, job["steps"]


def test_cpu_workflow_runs_the_ci_script():
    _, steps = _steps("ci.yml")
    assert any(step.get("run") == "bash .ci/run" for step in steps)


def test_gpu_workflow_has_what_a_gpu_job_needs():
    data, steps = _steps("gpu-benchmarks.yml")
    (job,) = data["jobs"].values()
    assert job["runs-on"][0] == "self-hosted" and "gpu" in job["runs-on"]
    triggers = data[True]  # YAML 1.1 reads the key `on` as True
    assert "revision" in triggers["workflow_dispatch"]["inputs"] and "pull_request" in triggers
    assert "HF_HOME" in data["env"] and "REVISION" in data["env"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    bench = next(step["run"] for step in steps if "pytest benchmarks/" in step.get("run", ""))
    for option in (
        '--revision "$REVISION"',
        '--dtype "$DTYPES"',
        '--attn "$ATTNS"',
        "--device cuda",
        "--benchmark-json",
        "--junitxml",
        "--benchmark-compare-fail=",
        "--missing-history save",
        "--verdicts",
        "$BASELINE_ARGS",
    ):
        assert option in bench, option
    assert 'git show "origin/$BASE_REF:$path"' in scripts  # a pull request is judged by its target's baseline
    uploads = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "${{ env.OUT }}"
    assert data["env"]["OUT"] == "reports/benchmarks"  # the runs, reports, verdicts, JUnit XML and benchmark JSON
