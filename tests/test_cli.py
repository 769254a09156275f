"""Exit codes of `python -m evalkit` (README "Exit codes"): 0 all answered, 1 samples failed, 2 bad input or output
location (one line, before any model load), 3 a requested setting cannot run here, 130 / 143 stopped by a signal.

The exit codes and the signals are checked on the real command in subprocesses (tiny model, one sample, two new
tokens); failures that must be injected (a failing batch, a full disk) run `app.main` in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit import cli
from evalkit.cli import app
from evalkit.records import load_run
from evalkit.run import evaluation, runner

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "runtime.device=cpu", "runtime.num_crops=1", "runtime.max_new_tokens=2", "runtime.warmup=0",
    "suites=[ocr]", "limit=1", "progress=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache_dir holding the tiny checkpoint, made once before the subprocesses start (they would race for it)."""
    from evalkit.phi3v.checkpoints import cached_tiny_checkpoint

    path = tmp_path_factory.mktemp("cache")
    cached_tiny_checkpoint(path)
    return path


def start(*args: str, tmp: Path, cache: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "evalkit", *args, f"output_dir={tmp}/runs", f"cache_dir={cache}"]
    return subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} timed out:\n{err[-3000:]}")
    return proc.returncode, out, err


def run_dirs(tmp: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp / "runs").rglob("run.json"))


def _wait_for_samples(tmp: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        files = list((tmp / "runs").rglob("samples.jsonl"))
        if files and files[0].read_text().count("\n") >= n:
            return
        time.sleep(0.05)
    pytest.fail(f"no sample written by {proc.args}: {proc.communicate()[1][-3000:]}")


@pytest.fixture(scope="module")
def commands(tmp_path_factory, cache) -> dict[str, tuple[Path, int, str, str]]:
    """The real command, four times side by side: a run of a checkpoint directory, a sweep naming a setting this
    machine cannot run, and two longer runs stopped by SIGINT / SIGTERM after their first sample.
    name -> (tmp dir, exit code, stdout, stderr)."""
    ckpt = tmp_path_factory.mktemp("ckpt") / "my-finetune"
    shutil.copytree(cache / "phi3v-tiny-seed0", ckpt)
    long = [*QUICK[:-2], "limit=30", "runtime.batch_size=2", "progress=false"]
    cases = {
        "ok": [f"model.path={ckpt}", *QUICK, "reports=false"],
        "sweep-flash": ["-m", "runtime.attn=eager,flash_attention_2", *QUICK],
        "SIGINT": long,
        "SIGTERM": [*long, "reports=false"],
    }
    tmps = {name: tmp_path_factory.mktemp(name) for name in cases}
    procs = {name: start(*args, tmp=tmps[name], cache=cache) for name, args in cases.items()}
    for name in ("SIGINT", "SIGTERM"):
        _wait_for_samples(tmps[name], procs[name])
        procs[name].send_signal(getattr(signal, name))
    return {name: (tmps[name], *finish(proc)) for name, proc in procs.items()}


def test_a_run_exits_zero_and_a_checkpoint_directory_names_the_model(commands):
    tmp, rc, _, err = commands["ok"]
    assert rc == 0, err
    (run_dir,) = run_dirs(tmp)
    record, _ = load_run(run_dir)
    # model.path without model.name: named after the directory, not after the default config ("tiny").
    assert (
        record.setting["model"] == "my-finetune"
        and record.name == "my-finetune-float32-sdpa-crops1-tok2-limit1-hdafa5a"
    )
    assert record.status == "complete" and record.n_samples == 1


def test_a_sweep_naming_an_impossible_setting_is_exit_three_before_any_job(commands):
    # Before: flash_attention_2 on a CPU was recorded as skipped and the sweep exited 0.
    tmp, rc, out, err = commands["sweep-flash"]
    assert rc == 3, err
    assert err.strip() == (
        "evalkit: error: float32-flash_attention_2 on cpu cannot run here: flash_attention_2 needs a CUDA device "
        "(this run is on the CPU); allow_skip=true records it as skipped and goes on"
    )
    assert "Launching" not in out + err and run_dirs(tmp) == []  # not even the eager setting ran


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_finishes_the_batch_records_interrupted_and_exits(commands, name, code):
    tmp, rc, _, err = commands[name]
    assert rc == code, err
    assert "Traceback" not in err
    (run_dir,) = run_dirs(tmp)
    assert err.strip().splitlines()[-1] == (
        f"evalkit: stopped by {name}; {run_dir} is recorded as interrupted; "
        f"resume with: python -m evalkit resume={run_dir}"
    )
    record, predictions = load_run(run_dir)
    assert record.status == "interrupted" and record.error == name
    # The batch in progress was finished, not abandoned: whole batches of two, every line intact.
    assert 0 < record.n_samples < 30 and record.n_samples % 2 == 0
    assert len(predictions) == record.n_samples == len((run_dir / "samples.jsonl").read_text().splitlines())
    if name == "SIGINT":  # reports for what finished (the SIGTERM run has reports=false)
        assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()


# --------------------------------------------------------------------------------------------- in-process


def _main(tmp_path: Path, *args: str) -> int:
    return cli.main([*QUICK, *args, f"output_dir={tmp_path}/runs", f"cache_dir={tmp_path}/cache"])


def test_refusals_are_one_line_exit_codes_without_a_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "load", lambda cfg: pytest.fail("the model must not be loaded"))
    for args, code, message in [
        # Before: CUDA asked for on a machine without it ran nothing and exited 0.
        (["runtime.device=cuda"], 3, "float32-sdpa on cuda cannot run here: device 'cuda' asked for"),
        # Before: a misspelt key added with '+' was accepted and the run was float32.
        (["+runtime.dtpye=bfloat16"], 2, "unknown key 'runtime.dtpye': not in RuntimeConfig"),
        (["-m", "runtime.attn=eager,sdpa,flash"], 2, "runtime.attn='flash': expected one of eager, sdpa"),
    ]:
        assert cli.main([*QUICK[1:], *args, f"output_dir={tmp_path}/runs"]) == code, args
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"evalkit: error: {message}") and len(err.splitlines()) == 1, err
    assert run_dirs(tmp_path) == []


def test_failed_samples_exit_one(tmp_path, monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(evaluation, "_generate_once", broken)
    assert _main(tmp_path) == app.EXIT_SAMPLES_FAILED
    assert "1 samples, 1 failed" in capsys.readouterr().out


def test_signal_during_a_batch_stops_after_it(tmp_path, monkeypatch, capsys):
    real, calls = runner.predict, {"n": 0}

    def signal_in_second_batch(loaded, batch, rt, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-batch: noted, the batch still completes
        return real(loaded, batch, rt, *args)

    monkeypatch.setattr(evaluation, "predict", signal_in_second_batch)
    assert _main(tmp_path, "limit=5") == 130
    (run_dir,) = run_dirs(tmp_path)
    record, predictions = load_run(run_dir)
    assert record.status == "interrupted" and [p.answer is not None for p in predictions] == [True, True]
    assert "SIGINT received: finishing the current batch" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_a_signal_during_start_up_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    """Nothing to finish before the batches: a signal while the config is checked or the model loads stops at once,
    with one line."""

    def interrupted_preflight(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the signal stops evalkit at once")

    monkeypatch.setattr(app, "preflight", interrupted_preflight)
    assert _main(tmp_path) == 130
    assert capsys.readouterr().err.strip() == "evalkit: stopped by SIGINT"
    assert run_dirs(tmp_path) == [] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


# The command's first import, evalkit.cli, takes seconds: the signal arrives just as it starts.
CTRL_C_WHILE_IMPORTING = """
import builtins, os, signal, sys
real_import = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "evalkit.cli":
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = importing
import runpy
runpy.run_module("evalkit", run_name="__main__")
"""


def test_ctrl_c_while_importing_is_one_line_not_a_traceback(tmp_path):
    # Before: the handlers were installed once evalkit.cli had been imported, and Ctrl-C then printed a 48-line
    # traceback.
    proc = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_IMPORTING, "suites=[ocr]"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "evalkit: stopped by SIGINT while starting"


def test_failed_model_load_leaves_no_run_directory(tmp_path, capsys):
    ckpt = tmp_path / "broken"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    assert _main(tmp_path, f"model.path={ckpt}") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert run_dirs(tmp_path) == []


def test_unwritable_locations_are_one_line_before_loading(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "load", lambda cfg: pytest.fail("the model must not be loaded"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for args, message in [
        ([f"output_dir={a_file}"], f"output_dir={a_file}: not a directory (it, or a parent of it, is a file)"),
        ([f"output_dir={a_file}/runs"], f"output_dir={a_file}/runs: not a directory"),
        ([f"cache_dir={a_file}"], f"cache_dir={a_file}: not a directory (it is a file)"),
        (["output_dir=/proc/evalkit-runs"], "output_dir=/proc/evalkit-runs: cannot write there"),
    ]:
        assert cli.main([*QUICK, *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"evalkit: error: {message}") and len(err.splitlines()) == 1, err


def test_write_failures_are_one_line_and_leave_a_true_record(tmp_path, monkeypatch, capsys):
    # A disk that fills up while samples.jsonl is written: the line names the file (it said only "[Errno 28] No
    # space left on device" before), and the record says `failed` with the same reason.
    real_write = os.write

    def disk_full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/samples.jsonl"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    assert _main(tmp_path) == 2
    (run_dir,) = run_dirs(tmp_path)
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"evalkit: error: {run_dir}/samples.jsonl: cannot write sample ocr/")
    assert "No space left on device (ENOSPC); the 0 sample(s) written before are kept" in err
    record, _ = load_run(run_dir)
    assert record.status == "failed" and record.error == f"OutputError: {err.removeprefix('evalkit: error: ')}"
    monkeypatch.undo()

    import evalkit.run.runner

    def reports_fail(run_dir):
        raise OSError(28, "No space left on device", str(run_dir / "report.html"))

    monkeypatch.setattr(evalkit.run.runner, "write_run_reports", reports_fail)
    shutil.rmtree(tmp_path / "runs")
    assert _main(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evalkit: error: [Errno 28] No space left on device:") and "report.html" in err
    (run_dir,) = run_dirs(tmp_path)
    assert load_run(run_dir)[0].status == "complete"  # the samples were all answered and recorded


def test_allow_skip_with_nothing_runnable_is_still_exit_three(tmp_path, capsys):
    assert _main(tmp_path, "runtime.attn=flash_attention_2", "allow_skip=true") == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("evalkit: error: none of the requested settings can run here") and run_dirs(tmp_path) == []
    assert json.dumps(err)  # one printable line
