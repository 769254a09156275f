"""Comparisons of runs and baselines: paired CIs, gating, changed samples, CLI exit codes, baselines."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_records import make_prediction, make_record, write_fake_run  # noqa: E402
from test_reports import assert_self_contained  # noqa: E402

from evalkit.cli.report_commands import baseline_main, compare_main  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.records import RunWriter, load_run, make_run_dir, summarize_performance  # noqa: E402
from evalkit.reports import (  # noqa: E402
    compare,
    load_baseline,
    load_run_or_baseline,
    save_baseline,
    write_comparison,
)


def _diff(comp, suite, metric, pair=0):
    return next(m for m in comp.pairs[pair].metrics if m.suite == suite and m.metric == metric)


def write_run_with(root: Path, preds, name="tiny-float32-eager") -> Path:
    run_dir = make_run_dir(root, name)
    with RunWriter(run_dir, make_record(name)) as w:
        for p in preds:
            w.add(p)
        w.finish(summarize_performance(preds, load_s=1.0, memory_mb={"peak_rss": 100.0}))
    return run_dir


def test_crafted_regression_is_flagged_and_fails(tmp_path):
    ref = write_fake_run(tmp_path, "ref")
    cand = write_fake_run(tmp_path, "cand", score_shift=0.2, latency_scale=2.0)
    comp = compare([ref, cand], threshold=0.05)
    ocr = _diff(comp, "ocr-basic", "located_cer")
    assert ocr.gating and not ocr.higher_is_better
    assert ocr.diff.mean == pytest.approx(0.2) and ocr.diff.low > 0  # CI excludes zero
    assert ocr.verdict == "regression" and ocr.fails
    desc = _diff(comp, "describe-basic", "score")
    assert desc.verdict == "regression" and desc.fails and desc.diff.high < 0
    assert not _diff(comp, "ocr-basic", "cer").gating  # non-primary metrics are shown but do not gate
    assert comp.has_regression
    pair = comp.pairs[0]
    assert pair.setting_diff == {}
    ratio = {r.measure: r.ratio for r in pair.perf}
    assert ratio["latency end_to_end median"] == pytest.approx(2.0)
    assert ratio["memory peak_rss"] == pytest.approx(2.0)
    assert len(pair.changes) == 20  # every sample's answer and score changed


def test_threshold_keeps_a_small_significant_drop_from_failing(tmp_path):
    ref = write_fake_run(tmp_path, "ref")
    cand = write_fake_run(tmp_path, "cand", score_shift=0.02)
    comp = compare([ref, cand], threshold=0.05)
    ocr = _diff(comp, "ocr-basic", "located_cer")
    assert ocr.verdict == "regression" and not ocr.fails
    assert not comp.has_regression


def test_improvement_is_not_a_regression(tmp_path):
    ref = write_fake_run(tmp_path, "ref", score_shift=0.1)
    cand = write_fake_run(tmp_path, "cand")
    comp = compare([ref, cand])
    assert _diff(comp, "ocr-basic", "located_cer").verdict == "improvement"
    assert _diff(comp, "describe-basic", "score").verdict == "improvement"
    assert not comp.has_regression
    reverse = compare([cand, ref])
    assert reverse.has_regression
    assert not compare([cand, ref], metrics=["forbidden_rate"]).has_regression  # --metric picks the gating metrics


def test_one_changed_sample_is_listed_but_not_significant(tmp_path):
    preds = [make_prediction(i) for i in range(12)]
    ref = write_run_with(tmp_path, preds, "ref")
    worse = [make_prediction(i, score_shift=0.5 if i == 7 else 0.0) for i in range(12)]
    cand = write_run_with(tmp_path, worse, "cand")
    comp = compare([ref, cand])
    assert _diff(comp, "ocr-basic", "located_cer").verdict == "no change"  # CI includes zero
    assert not comp.has_regression
    changes = comp.pairs[0].changes
    assert [c.sample_id for c in changes] == ["ocr-basic-007"]
    assert changes[0].badness == pytest.approx(0.5)
    assert changes[0].reference_answer != changes[0].candidate_answer


def test_changed_samples_worst_first_and_new_errors_fail(tmp_path):
    ref = write_run_with(tmp_path, [make_prediction(i) for i in range(6)], "ref")
    preds = [make_prediction(i) for i in range(6)]
    preds[1] = make_prediction(1, score_shift=0.1)
    preds[2] = make_prediction(2, score_shift=0.3)
    preds[3] = make_prediction(3, score_shift=-0.04)
    preds[4] = make_prediction(4, error="RuntimeError: NaN logits")
    cand = write_run_with(tmp_path, preds, "cand")
    comp = compare([ref, cand])
    order = [c.sample_id[-1] for c in comp.pairs[0].changes]
    assert order == ["4", "2", "1", "3"]  # new failure, then biggest score loss, ..., improvement last
    assert comp.pairs[0].new_errors == ["ocr-basic/ocr-basic-004"]
    assert comp.has_regression
    lenient = compare([ref, cand], fail_on_new_errors=False)
    assert lenient.pairs[0].new_errors and not lenient.has_regression


def test_identical_runs_flag_nothing_and_cli_exits_zero(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    same = write_fake_run(tmp_path, "same")
    comp = compare([ref, same])
    assert not comp.has_regression
    assert all(m.verdict == "no change" and m.diff.mean == 0 for m in comp.pairs[0].metrics)
    assert comp.pairs[0].changes == [] and comp.pairs[0].new_errors == []
    out = tmp_path / "cmp"
    assert compare_main([str(ref), str(same), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no failing regression" in printed and "located_cer" in printed
    assert (out / "compare.md").exists() and (out / "compare.html").exists()


def test_compare_main_exits_one_on_regression_and_writes_reports(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    cand = write_fake_run(tmp_path, "cand", score_shift=0.2, dtype="bfloat16")
    out = tmp_path / "cmp"
    assert compare_main([str(ref), str(cand), "--out", str(out), "--threshold", "0.05"]) == 1
    printed = capsys.readouterr().out
    assert "**REGRESSION (fails)**" in printed and "dtype: float32 → bfloat16" in printed
    assert "changed samples" in printed
    html = (out / "compare.html").read_text()
    assert_self_contained(html)
    assert "data:image/png;base64," in html and "Changed samples" in html
    # A threshold above the drop turns the exit code back to 0.
    assert compare_main([str(ref), str(cand), "--out", str(out), "--threshold", "0.5"]) == 0


def test_compare_main_bad_path_is_one_line_error(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    assert compare_main([str(ref), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "Traceback" not in err
    assert compare_main([str(ref)]) == 2
    assert compare_main(["--bogus"]) == 2


def test_baseline_round_trip_and_compare_against_run(tmp_path):
    run_dir = write_fake_run(tmp_path / "runs", revision="abc123", errors={2: "RuntimeError: x"})
    path = save_baseline(run_dir, tmp_path / "baselines", force=True).path  # force: it holds a failed sample
    assert path == tmp_path / "baselines" / "tiny" / "abc123.json"
    data = json.loads(path.read_text())
    assert data["kind"] == "evalkit-baseline" and data["schema_version"] == 1
    assert {"setting", "provenance", "suites", "summary", "performance", "samples"} <= set(data)
    row = data["samples"][0]
    assert re.fullmatch(r"[0-9a-f]{64}", row["answer_sha256"]) and row["answer_first_token_ids"] == [100, 200, 300]
    assert data["samples"][2]["answer_sha256"] is None and data["samples"][2]["error"] == "RuntimeError: x"

    view = load_baseline(path)
    record, preds = load_run(run_dir)
    assert view.kind == "baseline" and view.record.summary == record.summary
    assert view.record.performance == record.performance
    assert [(p.sample_id, p.answer, p.scores, p.labels) for p in view.samples] == [
        (p.sample_id, p.answer, p.scores, p.labels) for p in preds
    ]
    assert load_run_or_baseline(run_dir).kind == "run" and load_run_or_baseline(path).kind == "baseline"

    comp = compare([path, run_dir])
    assert not comp.has_regression and comp.pairs[0].changes == []
    assert all(math.isclose(r.ratio, 1.0) for r in comp.pairs[0].perf)
    worse = write_fake_run(tmp_path / "runs", "cand", revision="def456", score_shift=0.2)
    assert compare([path, worse]).has_regression
    md, html = write_comparison(compare([path, worse]), tmp_path / "cmp")
    assert "(baseline)" in md.read_text()


def test_baseline_main_save_and_errors(tmp_path, capsys):
    run_dir = write_fake_run(tmp_path / "runs")
    assert baseline_main(["save", str(run_dir), "--name", "release-1", "--root", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "tiny" / "release-1.json").exists()
    assert baseline_main(["save", str(tmp_path / "missing"), "--root", str(tmp_path / "b")]) == 2
    assert "missing" in capsys.readouterr().err


def test_incomplete_run_cannot_become_baseline(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), RunWriter(run_dir, make_record()) as w:
        w.add(make_prediction(0))
        raise KeyboardInterrupt
    with pytest.raises(EvalkitError, match="interrupted"):
        save_baseline(run_dir, tmp_path / "b")


def test_garbled_baseline_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something-else"}')
    with pytest.raises(EvalkitError, match="not an evalkit baseline"):
        load_run_or_baseline(bad)


# ------------------------------------------------------------------------ fail closed: evidence and gates


def edit_run(run_dir: Path, **changes) -> Path:
    """Rewrite fields of run.json (a nested field as 'a.b.c')."""
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(json.dumps(data))
    return run_dir


def compare_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = compare_main([*map(str, argv)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda root: write_run_with(root, [], "empty"), "holds no samples"),
        (lambda root: write_fake_run(root, "partial", n_ocr=5), "partial: 5 of the 12 samples of suite 'ocr-basic'"),
        (lambda root: edit_run(write_fake_run(root, "stopped"), status="interrupted"), "status 'interrupted'"),
        (lambda root: edit_run(write_fake_run(root, "killed"), status="running"), "status 'running'"),
        (lambda root: edit_run(write_fake_run(root, "skip"), status="skipped", skip_reason="no CUDA"), "(no CUDA)"),
        (
            lambda root: edit_run(write_fake_run(root, "newsuite"), **{"suites.ocr-basic.content_hash": "zzz"}),
            "suite 'ocr-basic' content differs (aaa vs zzz)",
        ),
    ],
    ids=["empty", "partial", "interrupted", "running", "skipped", "suite-changed"],
)
def test_compare_refuses_incomplete_evidence_with_exit_one(tmp_path, capsys, make, reason):
    # Each of these exited 0 before: a comparison passed on no (or partial) evidence.
    ref = write_fake_run(tmp_path, "ref")
    cand = make(tmp_path)
    rc, out, err = compare_cli(capsys, ref, cand, "--out", tmp_path / "cmp")
    assert rc == 1, err
    assert reason in err and "evalkit compare: FAIL: " in err and "Traceback" not in err
    assert "REFUSED" in out or "REGRESSION" in out


def test_compare_limited_run_is_complete_at_its_limit(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    cand = edit_run(write_fake_run(tmp_path, "lim", n_ocr=5, n_describe=5), **{"config.limit": 5})
    rc, _, err = compare_cli(capsys, ref, cand, "--out", tmp_path / "cmp")
    assert rc == 0, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metric", "located_cerr"], "--metric 'located_cerr': unknown metric (known: "),
        (["--metric", "anls"], ""),  # replaced below: a registry metric no compared run scores
        (["--threshold", "nan"], "threshold must be a finite number >= 0, got nan"),
        (["--threshold", "inf"], "threshold must be a finite number >= 0, got inf"),
        (["--max-latency-ratio", "0"], "max_latency_ratio must be a finite number > 0, got 0.0"),
        (["--max-memory-ratio", "nan"], "max_memory_ratio must be a finite number > 0, got nan"),
    ],
    ids=["typo", "unscored", "nan", "inf", "zero-ratio", "nan-ratio"],
)
def test_compare_options_that_would_disable_the_gate_are_exit_two(tmp_path, capsys, argv, message):
    from evalkit.scoring.metrics import METRICS

    if argv == ["--metric", "anls"]:
        unscored = sorted(set(METRICS) - {"cer", "wer", "located_cer", "keyword_recall", "forbidden_rate"})
        if not unscored:
            pytest.skip("every registered metric is scored by the fake runs")
        argv, message = ["--metric", unscored[0]], f"--metric {unscored[0]!r}: no compared run scores it"
    ref = write_fake_run(tmp_path, "ref")
    worse = write_fake_run(tmp_path, "worse", score_shift=0.3)
    rc, _, err = compare_cli(capsys, ref, worse, *argv, "--out", tmp_path / "cmp")
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_compare_performance_gates(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    slow = write_fake_run(tmp_path, "slow", latency_scale=14.0, num_crops=16)
    rc, _, err = compare_cli(capsys, ref, slow, "--out", tmp_path / "a")
    assert rc == 0, err  # without the option and without recorded machine load (CPU), latency is reported, not gated
    rc, out, err = compare_cli(capsys, ref, slow, "--max-latency-ratio", "1.5", "--out", tmp_path / "b")
    assert rc == 1 and "PERFORMANCE GATE FAILED" in out
    (line,) = err.strip().splitlines()
    assert "latency gate: end-to-end median " in line and "= 14.00x the reference (limit 1.5x)" in line
    assert "setting differs from the reference: num_crops None -> 16" in line
    rc, _, err = compare_cli(capsys, ref, slow, "--max-memory-ratio", "2", "--out", tmp_path / "c")
    assert rc == 1 and "memory gate: peak_rss 21000 MiB vs 1500 MiB = 14.00x the reference (limit 2x)" in err
    rc, _, err = compare_cli(capsys, ref, slow, "--max-latency-ratio", "20", "--max-memory-ratio", "20")
    assert rc == 0, err


def test_changed_samples_are_only_real_changes(tmp_path):
    preds = [make_prediction(i) for i in range(12)]
    ref = write_run_with(tmp_path, preds, "ref")
    reworded = [make_prediction(i, answer=f"other words {i}" if i < 4 else None) for i in range(12)]
    reworded[6].scores["cer"] += 0.5  # a non-primary metric moved: a real change, shown on that metric
    cand = write_run_with(tmp_path, reworded, "cand")
    pair = compare([ref, cand]).pairs[0]
    assert [(c.sample_id, c.metric) for c in pair.changes] == [("ocr-basic-006", "cer")]
    assert pair.same_score_answers == 4
    assert "4 samples answer differently with the same scores (not listed as changed)" in pair.notes


def test_wrongly_typed_records_are_one_line_exit_two(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    for field, value, expected in [
        ("summary", "oops", "field summary: expected a mapping, got a string 'oops'"),
        ("summary.ocr-basic.metrics.cer", [1], "field summary.ocr-basic.metrics.cer: expected a mapping, got a list"),
        ("n_samples", "20", "field n_samples: expected an integer, got a string '20'"),
        ("setting.dtype", None, "field setting.dtype: expected a string, got null"),
        ("status", "done", "field status: expected one of running, complete, interrupted, failed, skipped, got 'done'"),
    ]:
        cand = edit_run(write_fake_run(tmp_path, "cand"), **{field: value})
        rc, _, err = compare_cli(capsys, ref, cand, "--out", tmp_path / "cmp")
        assert rc == 2 and err.strip() == f"evalkit compare: error: {cand / 'run.json'}: {expected}", err
    baseline = save_baseline(ref, tmp_path / "b").path
    data = json.loads(baseline.read_text())
    data["samples"][3]["scores"] = "0.5"
    baseline.write_text(json.dumps(data))
    rc, _, err = compare_cli(capsys, baseline, ref)
    assert rc == 2
    assert (
        err.strip()
        == f"evalkit compare: error: {baseline}: field samples[3].scores: expected a mapping, got a string '0.5'"
    )


# ------------------------------------------------------------------------------------- baseline workflow


def test_baseline_save_writes_what_the_gates_read(tmp_path, monkeypatch):
    """One definition of where a baseline lives: `evalkit baseline save` (default root, no --name) writes exactly
    the file `pytest benchmarks/` reads by default (reports/baselines/<model>/<revision or default>.json)."""
    from dataclasses import MISSING, fields

    from benchmarks.session import Options

    monkeypatch.chdir(tmp_path)
    required = {f.name: None for f in fields(Options) if f.default is MISSING and f.default_factory is MISSING}
    for revision in (None, "abc123"):
        run_dir = write_fake_run(tmp_path / "runs", revision=revision)
        saved = save_baseline(run_dir)
        opts = Options(**{**required, "model": "tiny", "revision": revision, "baseline": None})
        assert saved.path == opts.baseline_path() == Path("reports/baselines/tiny") / f"{revision or 'default'}.json"


def test_baseline_save_refuses_limited_and_failed_runs_unless_forced(tmp_path, capsys):
    root = tmp_path / "b"
    limited = edit_run(write_fake_run(tmp_path / "runs", "lim", n_ocr=5, n_describe=5), **{"config.limit": 5})
    assert baseline_main(["save", str(limited), "--root", str(root)]) == 2
    assert "limited to 5 samples per suite (limit=5)" in capsys.readouterr().err
    failed = write_fake_run(tmp_path / "runs", "err", errors={0: "RuntimeError: boom"})
    assert baseline_main(["save", str(failed), "--root", str(root)]) == 2
    assert "1 of 20 samples failed" in capsys.readouterr().err
    assert not root.exists()
    assert baseline_main(["save", str(limited), "--root", str(root), "--force"]) == 0
    assert capsys.readouterr().out.strip() == f"baseline written: {root / 'tiny' / 'r1.json'}"
    # Replacing needs --replace (--force only accepts a limited or failing run) and says what was there.
    assert baseline_main(["save", str(failed), "--root", str(root), "--force"]) == 2
    err = capsys.readouterr().err
    assert f"{root / 'tiny' / 'r1.json'} (baseline of run {limited.name}, created " in err
    assert (
        "exists; replacing it changes: run " in err
        and "samples 10 -> 20" in err
        and err.endswith("; add --replace to replace it\n")
    )
    assert baseline_main(["save", str(failed), "--root", str(root), "--force", "--replace"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[1].startswith(f"replaced: {root / 'tiny' / 'r1.json'} (baseline of run {limited.name}, created ")


def test_baseline_save_refuses_a_partial_run_even_forced(tmp_path):
    partial = write_fake_run(tmp_path / "runs", n_ocr=5)
    with pytest.raises(EvalkitError, match="partial: 5 of the 12 samples of suite 'ocr-basic'"):
        save_baseline(partial, tmp_path / "b", force=True)


# ------------------------------------------------------------------------ complete = every sample exactly once


def write_run_with_a_repeat(root: Path, name: str = "repeat") -> Path:
    """A `complete` run whose samples.jsonl has the right number of lines: ocr-basic-003 twice, ocr-basic-004
    never (a line count cannot tell it from a complete run)."""
    preds = [make_prediction(i if i != 4 else 3, "ocr-basic") for i in range(12)]
    preds += [make_prediction(i, "describe-basic") for i in range(8)]
    return write_run_with(root, preds, name)


def test_baseline_save_refuses_a_repeated_sample_even_forced(tmp_path, capsys):
    # Frozen as a baseline before (exit 0, with or without --force): 20 lines made it look complete.
    run = write_run_with_a_repeat(tmp_path / "runs")
    for extra in ([], ["--force"]):
        assert baseline_main(["save", str(run), "--root", str(tmp_path / "b"), *extra]) == 2
        err = capsys.readouterr().err
        assert "recorded more than once: 'ocr-basic-003'" in err and "partial: 11 of the 12 samples" not in err
    assert not (tmp_path / "b").exists()


def test_compare_and_quality_gate_refuse_a_candidate_with_a_repeated_sample(tmp_path, capsys):
    # compare accepted it before (exit 0) and reported a mean and a paired difference over different samples.
    from evalkit.gates import quality

    ref = write_fake_run(tmp_path, "ref")
    cand = write_run_with_a_repeat(tmp_path)
    rc, _, err = compare_cli(capsys, ref, cand, "--out", tmp_path / "cmp")
    assert rc == 1 and "recorded more than once: 'ocr-basic-003'" in err
    pair = compare([ref, cand]).pairs[0]
    verdict = quality(pair, "ocr-basic", setting="repeat", baseline_name="ref")
    assert not verdict.ok and "'ocr-basic-003'" in verdict.message
    assert quality(pair, "describe-basic", setting="repeat", baseline_name="ref").ok  # the other suite is whole


def test_history_skips_a_run_with_a_repeated_sample(tmp_path, capsys):
    from evalkit.reports import history_table

    write_fake_run(tmp_path / "runs", started_at="2025-01-01T10:00:00+00:00")
    bad = write_run_with_a_repeat(tmp_path / "runs")
    with pytest.warns(UserWarning, match=f"history: skipping {re.escape(str(bad))}: .*'ocr-basic-003'"):
        table = history_table("tiny", tmp_path / "runs", tmp_path / "none")
    assert list(table["path"]) != [] and str(bad) not in list(table["path"])


# ------------------------------------------------------------------------ another model or revision


@pytest.mark.parametrize(
    ("setting", "named"),
    [({"model": "phi3v"}, "model phi3v at revision r1"), ({"revision": "r2"}, "model tiny at revision r2")],
    ids=["model", "revision"],
)
def test_compare_refuses_a_reference_of_another_model_unless_allowed(tmp_path, capsys, setting, named):
    """A gate against a baseline recorded for another model passed without a word; now it is refused, naming
    both, unless --allow-other-model."""
    ref = write_fake_run(tmp_path, "ref", **setting)
    baseline = save_baseline(ref, tmp_path / "b").path
    cand = write_fake_run(tmp_path, "cand")
    rc, _, err = compare_cli(capsys, baseline, cand, "--out", tmp_path / "cmp")
    assert rc == 1
    assert f"the reference ref@{setting.get('revision', 'r1')} (baseline) is {named}, this run model tiny at" in err
    assert "revision r1 (--allow-other-model compares them anyway)" in err
    rc, _, err = compare_cli(capsys, baseline, cand, "--out", tmp_path / "cmp2", "--allow-other-model")
    assert rc == 0, err


def test_means_are_over_the_paired_samples_and_the_unpaired_are_named(tmp_path):
    # Before: the reference's whole-suite mean stood beside the candidate's mean over fewer samples, next to a paired
    # difference over those few that disagreed with both.
    ref = write_fake_run(tmp_path, "ref", n_ocr=12)
    cand = write_fake_run(tmp_path, "cand", n_ocr=4)
    pair = compare([ref, cand]).pairs[0]
    ocr = _diff(compare([ref, cand]), "ocr-basic", "located_cer")
    first_four = [p.scores["located_cer"] for p in load_run(ref)[1] if p.suite == "ocr-basic"][:4]
    assert ocr.reference.n == ocr.candidate.n == ocr.diff.n == 4
    assert ocr.reference.mean == pytest.approx(sum(first_four) / 4)
    assert ocr.candidate.mean - ocr.reference.mean == pytest.approx(ocr.diff.mean)
    (note,) = [n for n in pair.notes if n.startswith("means are over")]
    assert "means are over the 12 samples both runs hold (20 in reference, 12 in candidate)" in note
    assert "unpaired: 8 (ocr-basic/ocr-basic-004, ocr-basic/ocr-basic-005" in note and "0 in the candidate only" in note


def test_compare_format_json_prints_the_verdicts_failed_first(tmp_path, capsys):
    ref = write_fake_run(tmp_path, "ref")
    worse = write_fake_run(tmp_path, "worse", score_shift=0.3)
    out = tmp_path / "cmp"
    assert compare_main([str(ref), str(worse), "--out", str(out), "--format", "json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document == json.loads((out / "verdicts.json").read_text()) | {"created_at": document["created_at"]}
    assert document["kind"] == "evalkit-verdicts" and document["schema_version"] == 1
    assert document["source"] == "evalkit compare" and document["passed"] is False
    assert document["reference"] == str(ref) and document["candidates"] == [str(worse)]
    first = document["verdicts"][0]
    assert first["verdict"] == "fail" and first["gate"] == "quality"
    assert first["difference"] == pytest.approx(first["candidate"] - first["reference"])
    assert first["interval"][0] <= first["difference"] <= first["interval"][1] and first["n"] > 0
    assert [v["verdict"] for v in document["verdicts"]] == sorted(
        (v["verdict"] for v in document["verdicts"]), key=("fail", "pass", "skip").index
    )
    assert document["counts"]["fail"] == 2  # located_cer up on ocr, score down on describe
    assert "evalkit compare: FAIL:" in captured.err


QUIET = {"cpu_count": 2, "other_share": 0.05, "busy_share": 0.55, "own_share": 0.5}


def test_latency_is_gated_by_default_where_the_timings_are_comparable(tmp_path, capsys):
    # Before: a 1.88x slower run passed unless --max-latency-ratio was given.
    ref = edit_run(write_fake_run(tmp_path, "ref"), **{"performance.machine_load": QUIET})
    slow = edit_run(write_fake_run(tmp_path, "slow", latency_scale=1.88), **{"performance.machine_load": QUIET})
    rc, out, err = compare_cli(capsys, ref, slow, "--out", tmp_path / "a")
    assert rc == 1, err
    assert "- latency gate: end-to-end median <= 1.5x the reference (default on cpu)" in out
    assert "= 1.88x the reference (limit 1.5x)" in err
    same = edit_run(write_fake_run(tmp_path, "same", latency_scale=1.1), **{"performance.machine_load": QUIET})
    assert compare_cli(capsys, ref, same, "--out", tmp_path / "b")[0] == 0


def test_latency_is_not_gated_when_the_load_differs_and_the_output_says_why(tmp_path, capsys):
    ref = edit_run(write_fake_run(tmp_path, "ref"), **{"performance.machine_load": QUIET})
    busy = {**QUIET, "other_share": 0.7}
    slow = edit_run(write_fake_run(tmp_path, "slow", latency_scale=3.0), **{"performance.machine_load": busy})
    rc, out, err = compare_cli(capsys, ref, slow, "--out", tmp_path / "a")
    assert rc == 0, err
    assert "latency not gated: other processes used 5% of the CPUs during the reference and 70% during" in out
    assert "evalkit compare: warning: slow@r1: speed comparison void: other processes used 5%" in err
    # Unrecorded load on the CPU: not gated, and said so.
    old = write_fake_run(tmp_path, "old", latency_scale=3.0)
    rc, out, _ = compare_cli(capsys, ref, old, "--out", tmp_path / "b")
    assert rc == 0 and "latency not gated: no machine load recorded in old@r1 (a CPU timing depends on" in out
    # An explicit ratio gates anyway, with the warning.
    rc, _, err = compare_cli(capsys, ref, slow, "--max-latency-ratio", "1.2", "--out", tmp_path / "c")
    assert rc == 1 and "speed comparison void" in err and "(limit 1.2x)" in err
