"""Scaling out on existing engines, end to end on the CPU with the tiny model (README "Scaling out").

One module fixture starts the real commands side by side: a sweep with Hydra's submitit_local launcher (each setting
in its own process: the single-process reference runs), `pytest benchmarks/` under torchrun with 2 processes (gloo;
every evaluation sharded and merged, the gates judging the merged records), and a run killed with SIGKILL after two
samples (mid-way through writing the third line), which is then resumed by `torchrun -m evalkit resume=...`. The
fixture's copy of the killed run, taken before the resume, is refused once a suite changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit import cli
from evalkit.records import load_run, read_predictions

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import finish  # noqa: E402

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "runtime.device=cpu", "runtime.num_crops=1", "runtime.max_new_tokens=3", "runtime.warmup=0", "limit=2",
    "progress=false", "reports=false",
]  # fmt: skip
# The run name says what QUICK changes (crops, tokens, limit; -h: warmup=0): evalkit.config.settings.EvalConfig.run_name.
QUICK_NAME = "tiny-float32-{attn}-crops1-tok3-limit2-hdafa5a"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
# Run by the "killed" process: the real command, with RunWriter.add dying on the third sample while writing it.
KILLER = """
import os, signal, sys
from evalkit import cli
from evalkit import records
written, real_add = [], records.RunWriter.add
def add(self, prediction):
    if len(written) == 2:
        self._samples.write('{"sample_id": "torn'); self._samples.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    written.append(prediction)
    real_add(self, prediction)
records.RunWriter.add = add
sys.exit(cli.main(sys.argv[1:]))
"""


def start(args: list[str], tmp: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def the_run(root: Path) -> Path:
    (run_dir,) = sorted(p.parent for p in root.rglob("run.json"))
    return run_dir


def answers(run_dir: Path) -> list[tuple[str, str, list[int]]]:
    return [(p.suite, p.sample_id, p.answer_token_ids) for p in read_predictions(run_dir / "samples.jsonl")]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    from evalkit.phi3v.checkpoints import cached_tiny_checkpoint

    tmp = tmp_path_factory.mktemp("scaleout")
    cache = tmp / "cache"
    cached_tiny_checkpoint(cache)  # made once, before the processes that would race for it
    ocr = tmp / "suites" / "ocr"
    shutil.copytree(REPO_ROOT / "datasets" / "ocr", ocr)  # a suite the last test may change
    (tmp / "killer.py").write_text(KILLER)
    # One thread per process: several share two cores (and libgomp's spin-waiting would slow all of them down).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *sys.path])}
    common = [*QUICK, f"cache_dir={cache}", f"suites=[describe,{ocr},compare]"]
    commands = {
        "sweep": [
            sys.executable, "-m", "evalkit", "-m", "hydra/launcher=submitit_local", "runtime.attn=eager,sdpa",
            *common, f"output_dir={tmp}/sweep-runs", f"hydra.sweep.dir={tmp}/sweep",
        ],
        "torchrun": [
            *TORCHRUN, "-m", "pytest", str(REPO_ROOT / "benchmarks"), "-p", "no:cacheprovider", "-m",
            "agreement or quality", "--attn=eager,sdpa", "--reference-setting=float32-eager", "--limit=2",
            "--max-new-tokens=3", "--num-crops=1", f"--suites=describe,{ocr},compare", "--update-baseline",
            "--force-baseline", f"--baseline={tmp}/baseline.json", f"--runs-dir={tmp}/torchrun",
        ],
        "killed": [sys.executable, str(tmp / "killer.py"), *common, f"output_dir={tmp}/killed"],
    }  # fmt: skip
    procs = {name: start(args, tmp, env) for name, args in commands.items()}
    out = {name: finish(proc, timeout=300) for name, proc in procs.items()}
    killed = the_run(tmp / "killed")
    shutil.copytree(killed, tmp / "killed-copy" / killed.name)  # as the kill left it
    out["resumed"] = finish(start([*TORCHRUN, "-m", "evalkit", f"resume={killed}"], tmp, env), timeout=300)
    return {"tmp": tmp, "ocr": ocr, "run": killed, "copy": tmp / "killed-copy" / killed.name, **out}


def reference(world, attn: str = "sdpa") -> Path:
    """The sweep's run of `attn`: the same setting as the others, in a single process of its own."""
    (run_dir,) = [d for d in (world["tmp"] / "sweep-runs").rglob(f"*-{QUICK_NAME.format(attn=attn)}") if d.is_dir()]
    return run_dir


def test_two_gloo_processes_answer_as_one(world):
    rc, out, err = world["torchrun"]
    assert rc == 0, (out + err)[-3000:]
    for attn in ("eager", "sdpa"):
        (run_dir,) = [d for d in (world["tmp"] / "torchrun").rglob(f"*-{attn}") if d.is_dir()]
        record, predictions = load_run(run_dir)
        single, _ = load_run(reference(world, attn))
        # Same sample ids in the same (manifest) order, same answer tokens, same scores: one run directory.
        assert answers(run_dir) == answers(reference(world, attn)) and len(predictions) == 6
        assert record.summary == single.summary and record.setting == single.setting
        assert sorted(os.listdir(run_dir)) == ["report.html", "report.md", "run.json", "samples.jsonl"]  # merged
        batch_ids = [p.batch_id for p in predictions]
        assert len(set(batch_ids)) == len(batch_ids)  # batch size 1: a batch per sample, ids unique across ranks
        perf = record.performance
        assert perf["world_size"] == 2 and perf["n_batches"] == 6 and perf["harness"]["requests"] == 6
        assert [r["rank"] for r in perf["ranks"]] == [0, 1] and all(r["n_batches"] == 3 for r in perf["ranks"])
        assert perf["memory_mb"]["peak_rss"] is not None
        assert [r["device"] for r in record.provenance["distributed"]["ranks"]] == ["cpu", "cpu"]
    # pytest benchmarks/ under torchrun: the gates of both ranks judged the merged records (agreement of sdpa with
    # eager, quality against the baseline rank 0 wrote once from the merged eager run).
    assert out.count("evalkit: baseline updated ->") == 1 and (world["tmp"] / "baseline.json").is_file()
    assert "4 passed, 4 skipped" in out  # quality of sdpa (3 suites), agreement of sdpa; the rest is the reference


def test_a_killed_run_resumed_under_torchrun_equals_the_uninterrupted_run(world):
    rc, _, _ = world["killed"]
    assert rc == -9  # SIGKILL: no handler ran, nothing was tidied up
    lines = (world["copy"] / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[-1] == '{"sample_id": "torn'  # two samples and a torn third line
    assert json.loads((world["copy"] / "run.json").read_text())["status"] == "running"
    rc, out, err = world["resumed"]
    assert rc == 0, err[-3000:]
    assert out.count(f"evalkit: {QUICK_NAME.format(attn='sdpa')}: 6 samples, 0 failed") == 1  # rank 0 speaks, once
    record, predictions = load_run(world["run"])
    single, _ = load_run(reference(world))
    assert answers(world["run"]) == answers(reference(world))  # no sample twice, none missing, same tokens
    assert len({(p.suite, p.sample_id) for p in predictions}) == len(predictions) == 6
    assert record.status == "complete" and record.summary == single.summary and record.n_errors == 0
    assert {k: v for k, v in record.config.items() if k != "output_dir"} == {
        k: v for k, v in single.config.items() if k != "output_dir"
    }
    first, second = record.attempts
    assert first["status"] == "running" and first["world_size"] == 1  # killed: it never recorded an end
    assert second["status"] == "complete" and second["world_size"] == 2 and second["samples_kept"] == 2
    assert len({p.batch_id for p in predictions}) == 6  # the resumed batches continue after the kept ones


def test_a_submitit_local_sweep_runs_each_setting_in_its_own_process_and_writes_one_report(world):
    rc, out, err = world["sweep"]
    assert rc == 0, err[-3000:]
    runs = sorted(p.parent for p in (world["tmp"] / "sweep-runs").rglob("run.json"))
    # sorted: the two jobs run side by side, and the one that starts first names the earlier directory
    assert sorted(load_run(r)[0].name for r in runs) == [QUICK_NAME.format(attn=a) for a in ("eager", "sdpa")]
    assert all(load_run(r)[0].status == "complete" for r in runs)
    jobs = [json.loads(p.read_text()) for p in sorted((world["tmp"] / "sweep").glob("*/evalkit-job.json"))]
    assert [(j["num"], j["state"], j["exit_code"]) for j in jobs] == [(0, "done", 0), (1, "done", 0)]
    pids = {j["pid"] for j in jobs}
    assert len(pids) == 2 and not pids & {os.getpid()}  # each job in a process of its own
    assert list((world["tmp"] / "sweep").rglob("sweep.md")) == [world["tmp"] / "sweep" / "sweep.md"]
    report = (world["tmp"] / "sweep" / "sweep.md").read_text()
    assert "evalkit sweep: 2 settings" in report and "eager" in report and "sdpa" in report
    assert out.count("evalkit: sweep report ->") == 1


def test_runs_lists_status_and_the_resume_command(world, capsys):
    assert cli.main(["runs", str(world["tmp"] / "killed-copy"), str(world["tmp"] / "killed")]) == 0
    lines = capsys.readouterr().out.splitlines()
    copy, done = lines[1], lines[2]
    assert copy.split()[:2] == ["killed", "2/6"]
    assert copy.endswith(f"resume: python -m evalkit resume={world['copy']}")
    assert done.split()[:2] == ["complete", "6/6"] and "resume" not in done


def test_resume_refuses_a_changed_suite(world, capsys):
    manifest = world["ocr"] / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["question"] = rows[0].get("question", "") + " Answer in capitals."
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (world["copy"] / "samples.jsonl").read_bytes()
    assert cli.main([f"resume={world['copy']}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"evalkit: error: resume={world['copy']}: suite ocr changed (content hash ")
    assert err.endswith("(resume_force=true continues anyway)")
    assert (world["copy"] / "samples.jsonl").read_bytes() == before  # refused before touching anything


def test_resume_compares_the_code_not_the_docs(monkeypatch):
    from types import SimpleNamespace

    from evalkit.run import provenance, resume

    def env(commit, code):
        return {"evalkit_version": "0.1.0", "evalkit_git": {"commit": commit, "dirty": False, "code_sha256": code}}

    run = SimpleNamespace(provenance={"environment": env("a" * 40, "same")})
    monkeypatch.setattr(provenance, "environment", lambda: env("b" * 40, "same"))  # a docs-only commit
    assert resume.code_differences(run) == []
    monkeypatch.setattr(provenance, "environment", lambda: env("b" * 40, "other"))
    (difference,) = resume.code_differences(run)
    assert difference.startswith("code changed (evalkit/, conf/ or hydra_plugins/ differ from the run's")
    old = SimpleNamespace(provenance={"environment": {"evalkit_version": "0.1.0", "evalkit_git": {"commit": "a" * 40}}})
    assert resume.code_differences(old) == ["code changed (git commit aaaaaaaaaaaa -> bbbbbbbbbbbb)"]  # older records
