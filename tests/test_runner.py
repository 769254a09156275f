"""The evaluation run end to end on the tiny model: records, errors, interruption, timing split, Hydra app."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from evalkit import cli
from evalkit.cli import app
from evalkit.config.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.data.samples import token_budget
from evalkit.data.suites import load_suite, resolve_suites
from evalkit.errors import ConfigError, UnsupportedSettingError
from evalkit.records import SCHEMA_VERSION, load_run
from evalkit.run import evaluation, runner

pytestmark = pytest.mark.slow


def _config(tmp_path, **runtime) -> EvalConfig:
    rt = {"device": "cpu", "num_crops": 1, "max_new_tokens": 4, "warmup": 0, **runtime}
    return EvalConfig(
        model=ModelConfig(), runtime=RuntimeConfig(**rt), suites=["ocr", "compare"], limit=2, limit_mode="head",
        output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), progress=False,
    )  # fmt: skip


def test_run_writes_records_and_reports(tmp_path):
    result = runner.run(_config(tmp_path, repeats=2, warmup=1))
    record, predictions = load_run(result.run_dir)
    assert record.status == "complete" and record.n_samples == 4 and record.n_errors == 0
    assert record.schema_version == SCHEMA_VERSION
    assert set(record.suites) == {"ocr", "compare"} and all(
        s["content_hash"].startswith("sha256:") for s in record.suites.values()
    )
    prov = record.provenance
    assert prov["weights"]["sha256"] and prov["model"]["path"] and prov["environment"]["torch"]
    assert record.setting == {**record.setting, "dtype": "float32", "attn": "sdpa", "device": "cpu", "num_crops": 1}
    assert {"located_cer", "cer", "wer"} <= set(record.summary["ocr"]["metrics"])
    perf = record.performance
    assert perf["load_s"] > 0 and perf["memory_mb"]["peak_rss"] > 0
    assert perf["latency_ms"]["end_to_end"]["unit"] == "ms" and perf["latency_ms"]["end_to_end"]["n"] == 4
    for p in predictions:
        assert p.answer is not None and p.tokens["generated"] == len(p.answer_token_ids) <= 4
        assert p.tokens["image"] > 0 and p.tokens["prompt"] > p.tokens["image"]
    assert (result.run_dir / "report.md").is_file() and (result.run_dir / "report.html").is_file()


def test_timing_split_adds_up(tmp_path):
    result = runner.run(_config(tmp_path, max_new_tokens=6))
    _, predictions = load_run(result.run_dir)
    for p in predictions:
        t = p.timings_ms
        parts = t["preprocess"] + t["prefill"] + t["decode"]
        # Only Python bookkeeping lies outside the three phases: a few ms, never a sizable share.
        assert parts <= t["end_to_end"] + 1e-6
        assert t["end_to_end"] - parts < max(15.0, 0.05 * t["end_to_end"])
        assert t["prefill"] > 0 and t["decode"] >= 0


def test_corrupt_image_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    suite_dir = tmp_path / "ocr"
    shutil.copytree(resolve_suites(["ocr"])[0].path, suite_dir)
    suite = load_suite(suite_dir)  # validates while the files are intact
    victim = suite.samples[1]
    monkeypatch.setattr(runner, "resolve_suites", lambda specs: [suite])
    victim.images[0].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)  # broken after validation
    result = runner.run(_config(tmp_path))
    record, predictions = load_run(result.run_dir)
    by_id = {p.sample_id: p for p in predictions}
    assert record.status == "complete" and record.n_errors == 1
    assert by_id[victim.id].error.startswith("InputError") and victim.images[0].name in by_id[victim.id].error
    assert by_id[suite.samples[0].id].answer is not None


def test_generation_error_fails_only_its_batch(tmp_path, monkeypatch):
    real = evaluation.timed_request
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "timed_request", flaky)
    result = runner.run(_config(tmp_path))
    record, predictions = load_run(result.run_dir)
    assert record.n_errors == 1 and record.n_samples == 4
    assert [p.error for p in predictions if p.error] == [
        "RuntimeError: CUDA out of memory. Tried to allocate 20.00 GiB"
    ]


def test_interrupted_run_keeps_finished_samples(tmp_path, monkeypatch):
    real = runner.predict
    calls = {"n": 0}

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "predict", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        runner.run(_config(tmp_path))
    (run_dir,) = list((tmp_path / "runs").glob("*/*"))
    record, predictions = load_run(run_dir)
    assert record.status == "interrupted" and len(predictions) == 2
    assert json.loads((run_dir / "run.json").read_text())["n_samples"] == 2


def test_unsupported_setting_fails_closed_unless_skipping_is_allowed(tmp_path):
    cfg = _config(tmp_path, attn="flash_attention_2", dtype="bfloat16")
    with pytest.raises(UnsupportedSettingError, match="CUDA"):
        runner.run(cfg)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/*"))  # no run directory
    result = runner.run(cfg, allow_skip=True)
    assert result.record.status == "skipped" and "CUDA" in result.record.skip_reason
    record, predictions = load_run(result.run_dir)
    assert record.status == "skipped" and predictions == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float64"}, "runtime.dtype='float64'"),
        ({"attn": "flash"}, "runtime.attn='flash'"),
        ({"batch_size": 0}, "runtime.batch_size=0"),
    ],
)
def test_runtime_values_are_validated(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RuntimeConfig(**kwargs)


def test_cli_config_errors_exit_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "load", lambda cfg: pytest.fail("the model must not be loaded"))
    assert cli.main(["runtime.dtype=float64", f"output_dir={tmp_path}/runs"]) == app.EXIT_USER_ERROR
    assert "runtime.dtype='float64': expected one of float32, float16, bfloat16" in capsys.readouterr().err
    assert cli.main(["suites=[nosuchsuite]", f"output_dir={tmp_path}/runs"]) == app.EXIT_USER_ERROR
    assert "nosuchsuite" in capsys.readouterr().err
    # Unknown keys, wrong types, unknown config options: one line naming them, exit 2, before any job starts.
    for argv, message in [
        (["runtime.dtyp=float16"], "Could not override 'runtime.dtyp': Key 'dtyp' not in 'RuntimeConfig'"),
        (["runtime.batch_size=abc"], "Value 'abc' of type 'str' could not be converted to Integer"),
        (["model=nosuch"], "Could not find 'model/nosuch' (available: phi35v, phi3v, phi3v-random, tiny)"),
        (["-m", "runtime.dtype=float32,bfloat16", "runtime.attnn=sdpa"], "Key 'attnn' not in 'RuntimeConfig'"),
    ]:
        assert cli.main(argv) == app.EXIT_USER_ERROR, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_cli_sweep_runs_every_setting_and_writes_side_by_side_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main([
        "-m", "runtime.dtype=float32,bfloat16", "runtime.attn=eager,flash_attention_2", "runtime.device=cpu",
        "allow_skip=true",
        "runtime.num_crops=1", "runtime.max_new_tokens=2", "runtime.warmup=0", "suites=[ocr]", "limit=1",
        f"output_dir={tmp_path}/runs", f"cache_dir={tmp_path}/cache", "progress=false",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ])  # fmt: skip
    assert code == app.EXIT_OK
    records = [load_run(d)[0] for d in sorted((tmp_path / "runs").glob("*/*"))]
    assert sorted((r.setting["dtype"], r.setting["attn"], r.status) for r in records) == [
        ("bfloat16", "eager", "complete"), ("bfloat16", "flash_attention_2", "skipped"),
        ("float32", "eager", "complete"), ("float32", "flash_attention_2", "skipped"),
    ]  # fmt: skip
    report = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "flash_attention_2" in report and "bfloat16" in report and "CUDA" in report


def test_a_sweep_over_attention_settings_loads_the_model_once(tmp_path, monkeypatch):
    """-m runtime.attn=eager,sdpa,sdpa_math in one process: one load, two attention switches, each run recording
    whether its model was reused; the answers are those of each setting loaded alone."""
    from evalkit.phi3v import engine

    monkeypatch.chdir(tmp_path)
    quick = ["runtime.device=cpu", "runtime.num_crops=1", "runtime.max_new_tokens=3", "runtime.warmup=0",
             "suites=[ocr]", "limit=2", f"cache_dir={tmp_path}/cache", "progress=false", "reports=false"]  # fmt: skip
    before = dict(engine.COUNTS)
    argv = ["-m", "runtime.attn=eager,sdpa,sdpa_math", *quick, f"output_dir={tmp_path}/sweep-runs",
            f"hydra.sweep.dir={tmp_path}/sweep"]  # fmt: skip
    assert cli.main(argv) == app.EXIT_OK
    assert engine.COUNTS["loads"] - before["loads"] == 1 and engine.COUNTS["switches"] - before["switches"] == 2
    swept = {r.setting["attn"]: (r, p) for r, p in (load_run(d) for d in (tmp_path / "sweep-runs").glob("*/*"))}
    assert {a: r.performance["model_reused"] for a, (r, _) in swept.items()} == {
        "eager": False, "sdpa": True, "sdpa_math": True,
    }  # fmt: skip
    for attn, (_, predictions) in swept.items():
        assert cli.main([f"runtime.attn={attn}", *quick, f"output_dir={tmp_path}/alone-{attn}"]) == app.EXIT_OK
        (alone_dir,) = (tmp_path / f"alone-{attn}").glob("*/*")
        alone = load_run(alone_dir)[1]
        assert [p.answer_token_ids for p in predictions] == [p.answer_token_ids for p in alone], attn
        assert load_run(alone_dir)[0].performance["model_reused"] is False


def test_per_sample_budgets_and_batches_equal_batch_size_one(tmp_path):
    """Each sample generates up to its own budget from its labels; a batch with mixed budgets gives every sample
    the tokens it gets alone (cut to its budget), and the record says whether the answer was cut off."""
    cfg = _config(tmp_path, max_new_tokens=None)
    loaded = runner.load(cfg)
    pool = {s.id: s for suite in resolve_suites(["ocr", "describe"]) for s in suite.samples}
    samples = [pool["sign_exit"], pool["photo_astronaut_no_dog"], pool["chart_dc_revenue_fy2022"]]
    items = runner.make_items(loaded.processor, samples, cfg.runtime)
    limits = {item.id: item.budget for item in items}
    count = lambda text: len(loaded.processor.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    assert limits == {s.id: token_budget(s, count) for s in samples}
    assert len(set(limits.values())) == 3  # three different budgets in one batch
    alone = [runner.predict(loaded, [item], cfg.runtime)[0] for item in items]
    batch = runner.predict(loaded, items, replace(cfg.runtime, batch_size=3))
    for one, many in zip(alone, batch, strict=True):
        assert one.answer_token_ids == many.answer_token_ids and one.answer == many.answer, one.sample_id
        assert many.max_new_tokens == limits[many.sample_id] and len(many.answer_token_ids) <= many.max_new_tokens
        assert many.truncated is (len(many.answer_token_ids) == many.max_new_tokens)
        assert many.tags["type"] == pool[many.sample_id].type and many.labels["type"] == many.tags["type"]
    # an explicit runtime.max_new_tokens overrides every budget
    three = replace(cfg.runtime, max_new_tokens=3)
    fixed = runner.predict(loaded, runner.make_items(loaded.processor, samples[:1], three), three)[0]
    assert fixed.max_new_tokens == 3 and len(fixed.answer_token_ids) <= 3


def test_answer_ids_cut_at_stop_or_budget():
    import torch

    row = torch.tensor([5, 6, 7, 99, 8, 9])
    assert evaluation._answer_ids(row, {99}, 6) == ([5, 6, 7], False)
    assert evaluation._answer_ids(row, {99}, 2) == ([5, 6], True)  # the budget cut it off
    assert evaluation._answer_ids(row, {99}, 3) == ([5, 6, 7], True)  # the stop token came one step too late


def test_a_full_disk_is_one_line_a_failed_run_and_resume_recovers(tmp_path, capsys, monkeypatch):
    """A disk that fills up after two samples: exit 2 with the file named (before: a bare '[Errno 28] No space left
    on device' and run.json left `running`); the run is `failed` with both samples whole; `evalkit runs
    --unfinished` lists it, and resume=DIR finishes it while the run directory is held by this process."""
    import errno
    import os

    from evalkit.cli.listings import runs_main
    from evalkit.records.lock import RunDirLocked, lock_run_dir

    monkeypatch.chdir(tmp_path)
    real_write, written = os.write, []

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/samples.jsonl"):
            if len(written) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    argv = ["suites=[ocr,compare]", "limit=2", "runtime.device=cpu", "runtime.num_crops=1", "runtime.max_new_tokens=3",
            "runtime.warmup=0", f"output_dir={tmp_path}/runs", f"cache_dir={tmp_path}/cache", "progress=false"]  # fmt: skip
    assert cli.main(argv) == app.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    (run_dir,) = list((tmp_path / "runs").glob("*/*"))
    assert len(err.splitlines()) == 1 and err.startswith(f"evalkit: error: {run_dir}/samples.jsonl: cannot write")
    assert "No space left on device (ENOSPC)" in err
    record, predictions = load_run(run_dir)
    assert record.status == "failed" and "ENOSPC" in record.error and len(predictions) == 2
    monkeypatch.setattr(os, "write", real_write)  # space freed
    assert runs_main(["--unfinished", str(tmp_path / "runs")]) == 0
    assert f"resume: python -m evalkit resume={run_dir}" in capsys.readouterr().out
    real_add, held = runner.RunWriter.add, []

    def add(self, prediction):  # while the resume writes, the run directory is its alone
        with pytest.raises(RunDirLocked):
            lock_run_dir(run_dir)
        held.append(True)
        real_add(self, prediction)

    monkeypatch.setattr(runner.RunWriter, "add", add)
    assert cli.main([f"resume={run_dir}"]) == app.EXIT_OK
    record, predictions = load_run(run_dir)
    assert record.status == "complete" and len(predictions) == 4 and held == [True, True]


def test_token_budgets_are_checked_against_the_context(tmp_path, capsys, monkeypatch):
    """runtime.max_new_tokens=1000000000 was accepted (the context is 131,072 tokens); now it is refused with the
    config, and a budget that fits alone but not with a sample's prompt is refused after the load, naming the
    sample, before any run directory exists."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "load", lambda cfg: pytest.fail("the model must not be loaded"))
    assert cli.main(["runtime.max_new_tokens=1000000000", f"output_dir={tmp_path}/runs"]) == app.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err == (
        "evalkit: error: runtime.max_new_tokens=1000000000: must be below 131,072, the context of the largest"
        " Phi-3-vision model (prompt and answer together); each model's own context is checked once it is loaded"
    )
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    argv = ["suites=[ocr]", "limit=1", "limit_mode=head", "runtime.device=cpu", "runtime.num_crops=1", "runtime.max_new_tokens=131000",
            f"output_dir={tmp_path}/runs", f"cache_dir={tmp_path}/cache", "progress=false"]  # fmt: skip
    assert cli.main(argv) == app.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    first = resolve_suites(["ocr"])[0].samples[0]
    assert len(err.splitlines()) == 1 and err.startswith(f"evalkit: error: sample ocr/{first.id}: its prompt of ")
    assert "runtime.max_new_tokens of 131,000 new tokens exceed the model's context of 131,072 tokens" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/*"))
