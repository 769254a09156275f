"""History over runs and baselines of one model."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_records import make_record, write_fake_run  # noqa: E402

from evalkit.cli.report_commands import history_main  # noqa: E402
from evalkit.records import make_run_dir, write_skipped_run  # noqa: E402
from evalkit.reports import history_table, save_baseline  # noqa: E402


@pytest.fixture()
def three_revisions(tmp_path) -> tuple[Path, Path]:
    runs, baselines = tmp_path / "runs", tmp_path / "baselines"
    write_fake_run(runs, revision="r1", started_at="2025-01-01T10:00:00+00:00")
    r2 = write_fake_run(runs, revision="r2", started_at="2025-02-01T10:00:00+00:00", score_shift=0.05)
    write_fake_run(runs, revision="r3", started_at="2025-03-01T10:00:00+00:00", score_shift=0.1, latency_scale=1.5)
    write_fake_run(
        runs, "tiny-bf16-sdpa", revision="r3", started_at="2025-03-01T11:00:00+00:00", dtype="bfloat16", attn="sdpa"
    )
    save_baseline(r2, baselines)
    # Not part of the history: another model, a skipped setting, a damaged run directory.
    write_fake_run(runs, "other", revision="r9", model="other-model")
    skipped = make_run_dir(runs, "tiny-flash")
    write_skipped_run(skipped, make_record("tiny-flash"), "no CUDA")
    broken = runs / "2025-04-01" / "000000-broken"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{not json")
    return runs, baselines


def test_history_table_over_three_revisions(three_revisions):
    runs, baselines = three_revisions
    with pytest.warns(UserWarning, match="skipping .*broken"):
        df = history_table("tiny", runs, baselines)
    assert list(df["revision"]) == ["r1", "r2", "r2", "r3", "r3"]
    assert list(df["kind"]) == ["run", "baseline", "run", "run", "run"]  # same date: baseline before run
    assert set(df["kind"]) == {"run", "baseline"}
    assert list(df["commit"])[0] == "commit-r1"
    col = "ocr-basic:located_cer"
    assert col in df.columns and "describe-basic:score" in df.columns
    eager = df[df["dtype"] == "float32"]
    scores = eager.drop_duplicates("revision")[col].tolist()
    assert scores[1] - scores[0] == pytest.approx(0.05) and scores[2] - scores[0] == pytest.approx(0.1)
    assert (df[col + "_low"] <= df[col]).all() and (df[col] <= df[col + "_high"]).all()
    assert df["latency_e2e_median_ms"].iloc[-2] == pytest.approx(1.5 * df["latency_e2e_median_ms"].iloc[0])
    assert (df["memory_kind"] == "peak_rss").all() and not df["peak_memory_mb"].map(math.isnan).any()
    assert set(df["setting_key"]) == {"float32/eager/cpu", "bfloat16/sdpa/cpu"}


def test_history_main_writes_markdown_and_plot(three_revisions, tmp_path, capsys):
    runs, baselines = three_revisions
    out = tmp_path / "hist"
    rc = history_main(["--model", "tiny", "--runs", str(runs), "--baselines", str(baselines), "--out", str(out)])
    assert rc == 0
    md = (out / "history.md").read_text()
    assert md.count("| r3 |") == 2 and "| r1 |" in md and "baseline" in md
    assert "ocr-basic:located_cer [95% CI]" in md and "e2e median (ms)" in md
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "history.csv").exists()
    captured = capsys.readouterr()
    assert "evalkit history: tiny" in captured.out
    # The damaged directory costs one line on stderr, not a traceback or a Python warning block.
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("evalkit history: skipping ") and "broken" in line and "not valid JSON" in line


def test_history_of_unknown_model_is_empty_and_bad_dirs_are_an_error(three_revisions, tmp_path, capsys):
    runs, baselines = three_revisions
    with pytest.warns(UserWarning):
        assert history_table("nobody", runs, baselines).empty
    assert history_main(["--model", "tiny", "--runs", str(tmp_path / "x"), "--baselines", str(tmp_path / "y")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_history_skips_a_wrongly_typed_run_with_one_line_and_goes_on(three_revisions, tmp_path, capsys):
    runs, baselines = three_revisions
    # A run.json whose summary holds a string where a mapping belongs: today's history aborted with a traceback.
    victim = write_fake_run(runs, revision="r4", started_at="2025-05-01T10:00:00+00:00")
    data = json.loads((victim / "run.json").read_text())
    data["summary"]["ocr-basic"] = "oops"
    (victim / "run.json").write_text(json.dumps(data))
    rc = history_main(
        ["--model", "tiny", "--runs", str(runs), "--baselines", str(baselines), "--out", str(tmp_path / "h")]
    )
    assert rc == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "broken" in err[0]
    assert (
        err[1]
        == f"evalkit history: skipping {victim}: {victim / 'run.json'}: field summary.ocr-basic: expected a mapping, got a string 'oops'"
    )
    assert "| r3 |" in (tmp_path / "h" / "history.md").read_text()  # the rest of the history is there
