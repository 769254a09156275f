"""The front door of `evalkit` (evalkit/cli/commands.py, evalkit/cli/app.py): --help, --version, the subcommands, compare's
shorthands, the end-of-run table, the random-weights banner, history's comparability groups and the benchmark
progress lines. In-process on fake run directories (tests/test_records.py): no model is loaded."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_records import write_fake_run  # noqa: E402

from evalkit import cli  # noqa: E402
from evalkit.cli import app, commands  # noqa: E402
from evalkit.cli.report_commands import compare_main, history_main  # noqa: E402
from evalkit.records import load_run  # noqa: E402
from evalkit.reports import history_table, save_baseline  # noqa: E402
from evalkit.reports.baseline import load_run_or_baseline  # noqa: E402
from evalkit.reports.console import random_weights_banner  # noqa: E402
from evalkit.reports.html import run_html, sweep_html  # noqa: E402
from evalkit.reports.markdown import run_markdown, sweep_markdown  # noqa: E402
from evalkit.scoring.statistics import Stats  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_subcommand_and_how_to_get_hydras_help(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "generate", "compare", "baseline", "history", "runs", "suites", "make-checkpoint"):
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(name + " ")), None)
        assert line and len(line.split(None, 1)[1]) > 20, f"{name} has no one-line description"
    assert "--hydra-help" in out and "--cfg job" in out
    assert all(callable(command.load()) for command in commands.COMMANDS.values())  # the one table is the dispatch


def test_version_names_evalkit_torch_and_transformers(capsys):
    import torch
    import transformers

    import evalkit

    assert cli.main(["--version"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"evalkit {evalkit.__version__}")
    assert torch.__version__ in line and transformers.__version__ in line


def test_only_bare_words_are_taken_for_commands():
    assert commands.looks_like_command("frobnicate") and commands.looks_like_command("make-checkpoints")
    for arg in ("-m", "--multirun", "--cfg", "--hydra-help", "limit=5", "+x=1", "~limit", "suites=[ocr]"):
        assert not commands.looks_like_command(arg), arg


def test_unknown_command_or_bad_argument_is_exit_2_with_one_line(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown command 'frobnicate'" in err
    with pytest.raises(SystemExit) as exc:  # argparse's exit, as `python -m evalkit suites --bogus` ends
        cli.main(["suites", "--bogus"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("evalkit suites: error:")
    for argv in (["compare", "a", "b", "--bogus"], ["baseline", "frobnicate"], ["history"]):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"evalkit {argv[0]}: error:"), err


def test_suites_lists_sample_counts_tasks_and_benchmark_forms(capsys):
    assert cli.main(["suites"]) == 0
    out = capsys.readouterr().out
    rows = {
        ln.split()[0]: ln.split()
        for ln in out.splitlines()
        if ln.split() and ln.split()[0] in ("ocr", "describe", "compare")
    }
    for name in ("describe", "ocr", "compare"):
        manifest = REPO_ROOT / "datasets" / name / "manifest.jsonl"
        n = sum(1 for line in manifest.read_text().splitlines() if line.strip())
        assert rows[name][1] == name and rows[name][2] == str(n)  # task, sample count
    assert "hf:PATH_OR_NAME:SPLIT" in out and "tsv:FILE" in out


def test_generate_is_python_m_evalkit_generate(capsys):
    # A bad budget is refused before any model is loaded, under the command's own name.
    rc = cli.main(["generate", "--model", "/nonexistent", "--prompt", "hi", "--max-new-tokens", "0"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == "evalkit generate: error: --max-new-tokens must be at least 1, got 0"


def test_run_is_the_hydra_job(capsys):
    assert cli.main(["run", "--cfg", "job"]) == 0
    assert "dtype: float32" in capsys.readouterr().out
    assert cli.main(["run", "runtime.dtype=float8"]) == cli.main(["runtime.dtype=float8"]) == 2


# ---------------------------------------------------------------------------------------- compare shorthands


def test_compare_latest_and_baseline_shorthands(tmp_path, capsys):
    runs, baselines = tmp_path / "runs", tmp_path / "baselines"
    first = write_fake_run(runs, started_at="2025-01-01T10:00:00+00:00")
    save_baseline(first, baselines)
    newest = write_fake_run(runs, started_at="2025-02-01T10:00:00+00:00", latency_scale=1.1)
    args = ["--runs", str(runs), "--baselines", str(baselines), "--out", str(tmp_path / "cmp")]
    assert compare_main(["baseline", "latest", *args]) == 0
    err = capsys.readouterr().err
    assert f"latest = {newest}" in err
    assert f"baseline = {baselines / 'tiny' / 'r1.json'}" in err


def test_compare_latest_without_a_complete_run_is_exit_2(tmp_path, capsys):
    rc = compare_main(["baseline", "latest", "--runs", str(tmp_path), "--out", str(tmp_path / "cmp")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no complete run under" in err and len(err.splitlines()) == 1


def test_compare_help_documents_the_shorthands(capsys):
    assert compare_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "`latest`" in out and "`baseline`" in out


# -------------------------------------------------------------------------------- end of run, random weights


def test_end_of_run_table_reads_the_record(tmp_path, capsys):
    run_dir = write_fake_run(tmp_path / "runs")
    (run_dir / "report.html").write_text("<html></html>")
    record, preds = load_run(run_dir)

    class Result:
        pass

    result = Result()
    result.record, result.run_dir = record, run_dir
    assert app._said(result) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"evalkit: {record.name}: {record.n_samples} samples")
    table = "\n".join(out[1:])
    ocr = next(ln for ln in out if ln.strip().startswith("ocr-basic"))
    ok = [p for p in preds if p.suite == "ocr-basic" and not p.failed]
    prefill = sorted(p.timings_ms["prefill"] for p in ok)
    median = (prefill[len(ok) // 2] + prefill[(len(ok) - 1) // 2]) / 2
    assert f" {len(ok)} " in ocr and "located_cer" in ocr and "[" in ocr and f"{median:.1f}" in ocr
    assert "peak memory (peak_rss, whole run): 1500 MiB" in table
    assert f"report: {run_dir / 'report.html'}" in table
    assert "RANDOM WEIGHTS" in table  # model tiny


def test_random_weights_banner_on_reports_only_for_random_models(tmp_path):
    random_run = load_run_or_baseline(write_fake_run(tmp_path / "a"))
    real_run = load_run_or_baseline(write_fake_run(tmp_path / "b", model="my-finetune"))
    assert "RANDOM WEIGHTS" in run_markdown(random_run).split("**Setting:**")[0]
    assert "RANDOM WEIGHTS" not in run_markdown(real_run)
    assert "RANDOM WEIGHTS" in sweep_markdown([random_run, real_run])
    # A checkpoint `evalkit make-checkpoint` wrote, run under a name of its own, is known by its marker.
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "evalkit-checkpoint.json").write_text("{}")
    real_run.record.provenance["model"]["path"] = str(ckpt)
    assert "make-checkpoint" in random_weights_banner(real_run)

    assert "RANDOM WEIGHTS" in run_html(random_run).split("<b>Setting:</b>")[0]
    assert "RANDOM WEIGHTS" not in run_html(load_run_or_baseline(write_fake_run(tmp_path / "c", model="x")))
    assert "RANDOM WEIGHTS" in sweep_html([random_run])


# ------------------------------------------------------------------------------------------------ history


def _set_limit(run_dir: Path, limit: int) -> None:
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    data["config"]["limit"] = limit
    path.write_text(json.dumps(data))


def test_history_connects_only_comparable_runs_and_says_why(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_fake_run(runs, revision="r1", started_at="2025-01-01T10:00:00+00:00", num_crops=4, max_new_tokens=16)
    write_fake_run(runs, revision="r2", started_at="2025-02-01T10:00:00+00:00", num_crops=4, max_new_tokens=16)
    limited = write_fake_run(runs, revision="r3", started_at="2025-03-01T10:00:00+00:00", num_crops=4,
                             max_new_tokens=16)  # fmt: skip
    _set_limit(limited, 5)
    write_fake_run(runs, revision="r4", started_at="2025-04-01T10:00:00+00:00", num_crops=16, max_new_tokens=16)
    df = history_table("tiny", runs, tmp_path / "none")
    assert list(df["group"]) == ["A", "A", "B", "C"]
    assert list(df["limit"]) == ["none", "none", "5", "none"] and list(df["num_crops"]) == ["4", "4", "4", "16"]
    assert list(df["n"]) == [20, 20, 20, 20] and set(df["max_new_tokens"]) == {"16"}
    assert df["trend"].nunique() == 3  # one plot line per group: r3 and r4 are not joined to r1-r2
    out = tmp_path / "hist"
    assert history_main(["--model", "tiny", "--runs", str(runs), "--baselines", str(tmp_path), "--out", str(out)]) == 0
    md = (out / "history.md").read_text()
    assert "group B is not connected to group A: limit none -> 5" in md
    assert "group C is not connected to group B: limit 5 -> none, num_crops 4 -> 16" in md
    assert "| limit | num_crops | max_new_tokens |" in md


# ------------------------------------------------------------------------------------------------ drift


def test_stats_from_dict_reads_nulls_as_nan():
    empty = Stats.from_values([], "ms")
    back = Stats.from_dict(json.loads(json.dumps({k: None if isinstance(v, float) else v
                                                  for k, v in empty.to_dict().items()})))  # fmt: skip
    assert back.n == 0 and math.isnan(back.median) and back.unit == "ms"
    full = Stats.from_values([1.0, 2.0, 3.0], "ms")
    assert Stats.from_dict(full.to_dict()) == full


def test_environment_is_a_fresh_dict_each_call():
    from evalkit.run.provenance import environment

    first = environment()
    first["torch"] = "tampered"
    first["evalkit_git"]["commit"] = "tampered"
    second = environment()
    assert second["torch"] != "tampered" and second["evalkit_git"].get("commit") != "tampered"


def test_benchmark_progress_lines(tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from session import Progress

    lines: list[str] = []
    runs = tmp_path / "runs"
    (runs / "old").mkdir(parents=True)
    (runs / "old" / "samples.jsonl").write_text("{}\n" * 9)  # an earlier run's samples do not count
    with Progress(lines.append, "float32-eager", 5, runs, every=0.02):
        new = runs / "new"
        new.mkdir()
        for k in (1, 3):
            (new / "samples.jsonl").write_text("{}\n" * k)
            deadline = time.monotonic() + 5
            while not any(f"evaluating {k}/5" in ln for ln in lines) and time.monotonic() < deadline:
                time.sleep(0.01)
    assert lines[0] == "evalkit: float32-eager: evaluating 5 samples..."
    assert "evalkit: float32-eager: evaluating 1/5 samples" in lines
    assert "evalkit: float32-eager: evaluating 3/5 samples" in lines
    assert not any("9/5" in ln for ln in lines)


def test_history_groups_have_their_own_label_and_colour(tmp_path):
    # Before: two groups that differ in limit or crops were both labelled "float32/eager/cpu", and colours repeated
    # after eight lines.
    from evalkit.reports.plots import trend_colors

    runs = tmp_path / "runs"
    write_fake_run(runs, revision="r1", started_at="2025-01-01T10:00:00+00:00", num_crops=4)
    limited = write_fake_run(runs, revision="r2", started_at="2025-02-01T10:00:00+00:00", num_crops=4)
    _set_limit(limited, 5)
    write_fake_run(runs, revision="r3", started_at="2025-03-01T10:00:00+00:00", num_crops=16)
    df = history_table("tiny", runs, tmp_path / "none")
    assert list(df["trend"]) == [
        "A: float32/eager/cpu limit=none crops=4",
        "B: float32/eager/cpu limit=5 crops=4",
        "C: float32/eager/cpu limit=none crops=16",
    ]
    for n in (3, 8, 9, 30):
        colors = [str(c) for c in trend_colors(n)]
        assert len(colors) == n == len(set(colors))
