"""Run records: round trips, atomic writes, killed and interrupted runs, summaries, schema versions.

The factories at the top build predictions and run directories by hand (no model); the report, compare
and history tests import them from here.
"""

from __future__ import annotations

import errno
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.records import (
    SAMPLES_FILE,
    SCHEMA_VERSION,
    Prediction,
    RecordWarning,
    RunRecord,
    RunWriter,
    atomic_write_text,
    load_run,
    make_run_dir,
    read_record,
    summarize,
    summarize_performance,
    write_skipped_run,
)

SUITES = {
    "ocr-basic": {"version": "1", "content_hash": "aaa", "task": "ocr", "n_samples": 12},
    "describe-basic": {"version": "1", "content_hash": "bbb", "task": "describe", "n_samples": 8},
}


def make_prediction(
    i: int,
    suite: str = "ocr-basic",
    *,
    score_shift: float = 0.0,
    error: str | None = None,
    images: list[str] | None = None,
    answer: str | None = None,
) -> Prediction:
    """Deterministic fake sample i of `suite`; `score_shift` moves every score (for crafted regressions)."""
    task = SUITES[suite]["task"]
    if task == "ocr":
        base = 0.05 + 0.03 * (i % 5)
        scores = {"cer": base + score_shift, "wer": 2 * base + score_shift, "located_cer": base + score_shift}
        labels = {"reference": f"INVOICE {i:04d}"}
    else:
        base = 0.9 - 0.1 * (i % 4)
        scores = {"keyword_recall": base + score_shift, "forbidden_rate": 0.0, "score": base + score_shift}
        labels = {"keywords": [["rocket", "rockets"], ["sky"]], "forbidden": ["cat"]}
    failed = error is not None
    return Prediction(
        sample_id=f"{suite}-{i:03d}",
        suite=suite,
        task=task,
        tags={"category": "chart" if i % 2 else "document"},
        images=images if images is not None else [],
        prompt=f"What does image {i} show?",
        answer=None if failed else (answer if answer is not None else f"answer {i} shift {score_shift:.2f}"),
        answer_token_ids=[] if failed else [100 + i, 200, 300],
        scores={} if failed else scores,
        timings_ms={
            "preprocess": 5.0 + i,
            "prefill": 40.0 + 2 * i,
            "decode": 100.0 + 3 * i,
            "end_to_end": 150.0 + 5 * i,
        },
        tokens={"prompt": 30, "image": 144, "generated": 12},
        decode_tokens_per_s=None if failed else 120.0 - i,
        error=error,
        labels=labels,
    )


def make_record(name: str = "tiny-float32-eager", revision: str = "r1", **setting) -> RunRecord:
    base = {"model": "tiny", "revision": revision, "dtype": "float32", "attn": "eager", "device": "cpu"}
    base.update(setting)
    return RunRecord(
        name=name,
        run_id="",
        status="running",
        started_at="2025-01-01T00:00:00+00:00",
        finished_at=None,
        setting=base,
        config={"seed": 0},
        provenance={
            "model": {"path": "/m", "repo_id": "org/tiny", "commit": f"commit-{revision}"},
            "weights": {"sha256": "ab"},
        },
        suites=dict(SUITES),
    )


def write_fake_run(
    root: Path,
    name: str = "tiny-float32-eager",
    *,
    revision: str = "r1",
    score_shift: float = 0.0,
    n_ocr: int = 12,
    n_describe: int = 8,
    errors: dict[int, str] | None = None,
    images: list[str] | None = None,
    started_at: str = "2025-01-01T00:00:00+00:00",
    latency_scale: float = 1.0,
    **setting,
) -> Path:
    """A complete run directory with fake predictions; `errors` maps an ocr sample index to its error."""
    errors = errors or {}
    run_dir = make_run_dir(root, name, now=datetime.fromisoformat(started_at))
    record = make_record(name, revision, **setting)
    record.started_at = started_at
    preds = [
        make_prediction(i, "ocr-basic", score_shift=score_shift, error=errors.get(i), images=images)
        for i in range(n_ocr)
    ]
    preds += [make_prediction(i, "describe-basic", score_shift=-score_shift, images=images) for i in range(n_describe)]
    for p in preds:
        p.timings_ms = {k: v * latency_scale for k, v in p.timings_ms.items()}
    with RunWriter(run_dir, record) as writer:
        for p in preds:
            writer.add(p)
        mem = {"peak_allocated": None, "peak_reserved": None, "peak_rss": 1500.0 * latency_scale}
        writer.finish(summarize_performance(preds, load_s=2.5, memory_mb=mem))
    return run_dir


# ------------------------------------------------------------------------------------------------ tests


def test_prediction_round_trip_keeps_every_field_and_nan_becomes_null():
    p = make_prediction(3, error=None)
    p.scores["anls"] = math.nan
    d = p.to_dict()
    text = json.dumps(d, allow_nan=False)  # strict JSON: NaN was mapped to null
    back = Prediction.from_dict(json.loads(text))
    assert math.isnan(back.scores.pop("anls"))
    p.scores.pop("anls")
    assert back == p


def test_budget_fields_are_optional_and_round_trip():
    p = make_prediction(1)
    assert p.max_new_tokens is None and p.truncated is None  # older records have neither
    old = {k: v for k, v in p.to_dict().items() if k not in ("max_new_tokens", "truncated")}
    assert Prediction.from_dict(old) == p
    p.max_new_tokens, p.truncated = 29, True
    assert Prediction.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_summary_counts_truncation_and_adds_yes_no_f1():
    preds = []
    for i, (gold, said) in enumerate([("yes", 1.0), ("yes", 0.0), ("no", 1.0), ("no", 0.0), ("yes", None)]):
        p = make_prediction(i, "describe-basic")
        p.labels = {"type": "yes_no", "answers": [gold]}
        p.scores = {"accuracy": float(said is not None and (said == 1.0) == (gold == "yes"))}
        if said is not None:
            p.scores["yes_ratio"] = said
        p.truncated = i == 0
        preds.append(p)
    summary = summarize(preds)["describe-basic"]
    assert summary["n_truncated"] == 1
    f1 = summary["metrics"]["yes_no_f1"]  # tp 1, fp 1, fn 2 (one unparsed)
    assert f1["mean"] == pytest.approx(2 / 5) and f1["n"] == 5 and f1["low"] <= f1["mean"] <= f1["high"]
    assert summary["metrics"]["yes_ratio"]["mean"] == pytest.approx(0.5)
    assert "yes_no_f1" in summary["by_tag"]["category=chart"]
    assert "yes_no_f1" not in summarize([make_prediction(0, "describe-basic")])["describe-basic"]["metrics"]


def test_run_record_round_trip_and_unknown_keys_ignored():
    rec = make_record()
    d = rec.to_dict()
    d["future_optional_field"] = 1
    assert RunRecord.from_dict(d) == rec


def test_newer_schema_version_is_refused_with_clear_error(tmp_path):
    d = make_record().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "run.json").write_text(json.dumps(d))
    with pytest.raises(EvalkitError, match=r"run\.json.*schema_version 2 is newer"):
        load_run(tmp_path)


def test_missing_or_garbled_run_json_names_the_file(tmp_path):
    with pytest.raises(EvalkitError, match="run.json: not found"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text('{"name": "x",')
    with pytest.raises(EvalkitError, match=r"run\.json:1: not valid JSON"):
        load_run(tmp_path)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new content")
    assert target.read_text() == "new content"
    assert sorted(os.listdir(tmp_path)) == ["f.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["f.json"]


def test_make_run_dir_layout_and_uniqueness(tmp_path):
    now = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    a = make_run_dir(tmp_path, "tiny bf16/sdpa", now=now)
    b = make_run_dir(tmp_path, "tiny bf16/sdpa", now=now)
    assert a == tmp_path / "2025-03-04" / "050607-tiny-bf16-sdpa"
    assert b.name == "050607-tiny-bf16-sdpa-2"
    assert a.is_dir() and b.is_dir()


def test_writer_complete_run_round_trip(tmp_path):
    run_dir = write_fake_run(tmp_path, errors={1: "RuntimeError: boom"})
    record, preds = load_run(run_dir)
    assert record.status == "complete" and record.finished_at
    assert record.run_id == run_dir.name
    assert (record.n_samples, record.n_errors) == (20, 1)
    assert record.summary["ocr-basic"]["n"] == 12 and record.summary["ocr-basic"]["n_errors"] == 1
    assert record.summary["ocr-basic"]["metrics"]["cer"]["n"] == 11  # the failed sample is not scored
    assert [p.sample_id for p in preds][:2] == ["ocr-basic-000", "ocr-basic-001"]
    assert preds[1].error == "RuntimeError: boom" and preds[1].answer is None
    perf = record.performance
    assert perf["latency_ms"]["end_to_end"]["unit"] == "ms" and perf["latency_ms"]["end_to_end"]["n"] == 19
    assert list(perf["latency_ms"]) == ["preprocess", "prefill", "decode", "end_to_end"]
    assert perf["decode_tokens_per_s"]["unit"] == "tokens/s"
    json.loads((run_dir / "run.json").read_text())  # strict JSON (peak_allocated None -> null)


def test_killed_writer_truncated_last_line_still_loads(tmp_path):
    run_dir = tmp_path / "run"
    writer = RunWriter(run_dir, make_record())
    for i in range(3):
        writer.add(make_prediction(i))
    # Simulate SIGKILL in the middle of writing the 4th line: half a JSON object, no newline.
    line = json.dumps(make_prediction(3).to_dict())
    with open(run_dir / SAMPLES_FILE, "a") as fh:
        fh.write(line[: len(line) // 2])
    with pytest.warns(RecordWarning, match="truncated last line"):
        record, preds = load_run(run_dir)
    assert record.status == "running"  # never finished
    assert [p.sample_id for p in preds] == ["ocr-basic-000", "ocr-basic-001", "ocr-basic-002"]


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    run_dir = write_fake_run(tmp_path)
    lines = (run_dir / SAMPLES_FILE).read_text().splitlines()
    lines[2] = "{garbage"
    (run_dir / SAMPLES_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalkitError, match=r"samples\.jsonl:3: invalid prediction line"):
        load_run(run_dir)


def test_writer_keyboard_interrupt_records_interrupted(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), RunWriter(run_dir, make_record()) as writer:
        writer.add(make_prediction(0))
        writer.add(make_prediction(1))
        raise KeyboardInterrupt
    record, preds = load_run(run_dir)
    assert record.status == "interrupted"
    assert record.n_samples == 2 and len(preds) == 2
    assert record.summary["ocr-basic"]["n"] == 2


def test_writer_exception_records_failed_with_error_text(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="bad tensor"), RunWriter(run_dir, make_record()) as writer:
        writer.add(make_prediction(0))
        raise ValueError("bad tensor")
    record, _ = load_run(run_dir)
    assert record.status == "failed"
    assert record.error == "ValueError: bad tensor"
    assert record.finished_at is not None


def test_run_json_says_running_while_the_run_is_in_progress(tmp_path):
    run_dir = tmp_path / "run"
    writer = RunWriter(run_dir, make_record())
    writer.add(make_prediction(0))
    record, preds = load_run(run_dir)
    assert record.status == "running" and len(preds) == 1  # the added sample is already on disk
    writer.finish({})


def test_summary_estimates_and_tags():
    preds = [make_prediction(i) for i in range(10)] + [make_prediction(10, error="OSError: x")]
    summary = summarize(preds)["ocr-basic"]
    assert summary["n"] == 11 and summary["n_errors"] == 1
    cer = summary["metrics"]["cer"]
    values = [0.05 + 0.03 * (i % 5) for i in range(10)]
    assert cer["mean"] == pytest.approx(sum(values) / 10)
    assert cer["low"] < cer["mean"] < cer["high"]
    assert cer["n"] == 10
    chart = summary["by_tag"]["category=chart"]["cer"]
    assert chart["n"] == 5
    assert chart["mean"] == pytest.approx(sum(values[1::2]) / 5)
    assert summarize(preds)["ocr-basic"] == summary  # fixed seed: deterministic


def test_skipped_run(tmp_path):
    run_dir = make_run_dir(tmp_path, "tiny-float16-flash")
    write_skipped_run(run_dir, make_record("tiny-float16-flash"), "flash-attn needs CUDA")
    record, preds = load_run(run_dir)
    assert record.status == "skipped" and record.skip_reason == "flash-attn needs CUDA"
    assert preds == []


# ------------------------------------------------------------------------------- abnormal ends, bad types


class _FailingClose:
    """Wraps samples.jsonl's file object; close() fails like a full disk flushing its last buffer."""

    def __init__(self, fh):
        self._fh = fh

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def close(self):
        self._fh.close()
        raise OSError(28, "No space left on device")


def test_close_failure_still_writes_the_status_as_failed(tmp_path):
    from evalkit.errors import OutputError

    writer = RunWriter(tmp_path / "run", make_record())
    writer.add(make_prediction(0))
    writer._samples = _FailingClose(writer._samples)
    with pytest.raises(OutputError, match="samples.jsonl: .*No space left on device"):
        writer.finish({})
    record, preds = load_run(tmp_path / "run")
    assert record.status == "failed" and "No space left on device" in record.error and len(preds) == 1


def test_write_failure_marks_the_run_failed_even_when_close_fails_too(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(OSError, match="No space"), RunWriter(run_dir, make_record()) as writer:
        writer.add(make_prediction(0))
        writer._samples = _FailingClose(writer._samples)
        raise OSError(28, "No space left on device")
    record, _ = load_run(run_dir)
    assert record.status == "failed" and record.error == "OSError: [Errno 28] No space left on device"


def test_a_wrongly_typed_prediction_line_is_an_error_even_last(tmp_path):
    run_dir = write_fake_run(tmp_path)
    lines = (run_dir / SAMPLES_FILE).read_text().splitlines()
    bad = json.loads(lines[-1])
    bad["scores"] = "high"
    lines[-1] = json.dumps(bad)
    (run_dir / SAMPLES_FILE).write_text("\n".join(lines) + "\n")
    # Valid JSON with a wrong type is not a torn write: it is refused, naming file, line and field.
    with pytest.raises(EvalkitError, match=r"samples\.jsonl:20: field scores: expected a mapping, got a string 'high'"):
        load_run(run_dir)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("suites", ["ocr"], "field suites: expected a mapping, got a list"),
        (
            "performance",
            {"latency_ms": {"end_to_end": 3.0}},
            "field performance.latency_ms.end_to_end: expected a mapping, got float 3.0",
        ),
        ("n_errors", True, "field n_errors: expected an integer, got a boolean True"),
        ("config", {"limit": "3"}, "field config.limit: expected an integer or null, got a string '3'"),
    ],
)
def test_run_json_field_types_are_checked_on_read(tmp_path, field, value, message):
    run_dir = write_fake_run(tmp_path)
    data = json.loads((run_dir / "run.json").read_text())
    data[field] = value
    (run_dir / "run.json").write_text(json.dumps(data))
    with pytest.raises(EvalkitError) as info:
        load_run(run_dir)
    assert str(info.value) == f"{run_dir / 'run.json'}: {message}"


def test_writer_never_records_complete_without_every_selected_sample_exactly_once(tmp_path):
    """What a resume or a torchrun merge hands the writer is checked by id: a sample two ranks both answered, or
    one nobody answered, makes the run `failed` naming the ids, instead of `complete`."""
    order = {("ocr-basic", f"ocr-basic-{i:03d}"): i for i in range(3)}
    good = RunWriter(tmp_path / "good", make_record())
    for i in range(3):
        good.add(make_prediction(i))
    assert good.finish({}, order=order).status == "complete"
    merged = RunWriter(tmp_path / "merged", make_record())
    merged.extend([make_prediction(0), make_prediction(1), make_prediction(1)])  # rank 1 repeated rank 0's sample
    record = merged.finish({}, order=order)
    assert record.status == "failed"
    assert record.error == (
        "incomplete record: recorded more than once: ocr-basic/ocr-basic-001; selected but not recorded:"
        " ocr-basic/ocr-basic-002"
    )
    assert read_record(tmp_path / "merged" / "run.json").status == "failed"


# ------------------------------------------------------------------------ one process owns a run directory

HOLDER = """
import sys, time
from evalkit.records.lock import lock_run_dir
lock = lock_run_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


def test_a_run_directory_held_by_another_process_refuses_resume_naming_its_pid(tmp_path, capsys):
    """Three resumes started at the same moment all proceeded (each answering every remaining sample); now the
    run directory's lock lets one through and refuses the others with the holder's pid."""
    import subprocess
    import sys

    from evalkit import cli
    from evalkit.records.lock import OWNER_FILE, RunDirLocked, lock_run_dir

    run_dir = write_fake_run(tmp_path / "runs")
    data = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**data, "status": "interrupted"}))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main([f"resume={run_dir}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"evalkit: error: resume={run_dir}: the run directory is in use by process {holder.pid} on"
            f" {os.uname().nodename}; one process at a time writes a run (wait for it to end, or stop it, then resume)"
        )
        with pytest.raises(RunDirLocked):  # a new run's writer in this process is refused the same way
            lock_run_dir(run_dir)
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone (killed: no chance to clean up): the kernel released the lock; the stale name is harmless.
    with lock_run_dir(run_dir) as lock:
        assert lock.held and (run_dir / OWNER_FILE).read_text().split()[0] == str(os.getpid())
        with pytest.raises(RunDirLocked, match=f"in use by process {os.getpid()} "):
            lock_run_dir(run_dir)  # a second taker in the same process is refused too
    assert not (run_dir / OWNER_FILE).exists()


# ------------------------------------------------------------------------ write failures


def _failing_writes(monkeypatch, path: Path, code: int, after_bytes: int = 40):
    """os.write on the file at `path` writes `after_bytes` more bytes, then fails with errno `code` (a disk that
    fills up mid-line); every other descriptor writes as usual."""
    real_write = os.write
    left = {"n": after_bytes}

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target != str(path):
            return real_write(fd, data)
        if left["n"] <= 0:
            raise OSError(code, os.strerror(code))
        n = real_write(fd, bytes(data[: left["n"]]))
        left["n"] -= n
        return n

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS], ids=["ENOSPC", "EACCES", "EROFS"])
def test_a_failed_sample_write_names_the_file_records_failed_and_keeps_what_was_written(tmp_path, monkeypatch, code):
    """Before: a bare '[Errno 28] No space left on device' naming no file, run.json left `running`, and a torn
    line at the end of samples.jsonl."""
    from evalkit.errors import OutputError

    run_dir = tmp_path / "run"
    with pytest.raises(OutputError) as exc, RunWriter(run_dir, make_record()) as writer:
        writer.add(make_prediction(0))
        writer.add(make_prediction(1))
        _failing_writes(monkeypatch, (run_dir / SAMPLES_FILE).resolve(), code)
        writer.add(make_prediction(2))  # 40 bytes of it reach the disk, then the write fails
    name = errno.errorcode[code]
    message = str(exc.value)
    assert message.startswith(f"{run_dir / SAMPLES_FILE}: cannot write sample ocr-basic/ocr-basic-002: ")
    assert f"({name}); the 2 sample(s) written before are kept" in message
    record, predictions = load_run(run_dir)
    assert record.status == "failed" and f"({name})" in record.error and SAMPLES_FILE in record.error
    assert [p.sample_id for p in predictions] == ["ocr-basic-000", "ocr-basic-001"]  # whole lines, nothing torn
    assert (run_dir / SAMPLES_FILE).read_text().endswith("}\n")
    assert sorted(os.listdir(run_dir)) == ["run.json", "samples.jsonl"]  # the space reserve was given back


def test_when_run_json_cannot_be_written_either_both_reasons_are_one_line(tmp_path, monkeypatch):
    from evalkit.errors import OutputError
    from evalkit.records import files

    run_dir = tmp_path / "run"
    with pytest.raises(OutputError) as exc, RunWriter(run_dir, make_record()) as writer:
        writer.add(make_prediction(0))
        _failing_writes(monkeypatch, (run_dir / SAMPLES_FILE).resolve(), errno.EROFS, after_bytes=0)

        def read_only(path, text):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(files, "atomic_write_text", read_only)
        writer.add(make_prediction(1))
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{run_dir / SAMPLES_FILE}: cannot write sample")
    assert message.endswith(
        f"; and the run could not be recorded as failed: {run_dir / 'run.json'}: cannot write: Read-only file"
        " system (EROFS)"
    )
    monkeypatch.undo()
    assert read_record(run_dir / "run.json").status == "running"  # `evalkit runs`: killed, resumable


def test_atomic_write_names_the_file_it_could_not_write(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as exc:
        atomic_write_text(tmp_path / "report.md", "x")
    assert exc.value.filename == str(tmp_path / "report.md") and str(tmp_path / "report.md") in str(exc.value)
    assert os.listdir(tmp_path) == []  # no temporary file left behind


def test_printed_resume_commands_are_shell_quoted(tmp_path):
    """An output_dir holding `;$(...)` ran that command when the printed resume line was pasted into a shell."""
    import shlex
    import subprocess

    from evalkit.run.resume import resume_command

    run_dir = tmp_path / "runs;$(touch pwned)" / "it's here"
    for world in (1, 4):
        command = resume_command(run_dir, world)
        assert shlex.split(command)[-1] == f"resume={run_dir}"  # one argument, exactly the directory
        echoed = subprocess.run(["sh", "-c", f"printf '%s\\n' {command.split(' ', 3 if world == 1 else 4)[-1]}"],
                                cwd=tmp_path, capture_output=True, text=True, check=True)  # fmt: skip
        assert echoed.stdout == f"resume={run_dir}\n" and not (tmp_path / "pwned").exists()
    assert resume_command(tmp_path / "plain", 1) == f"python -m evalkit resume={tmp_path / 'plain'}"


# ------------------------------------------------------------------------ performance parts that merge themselves


def test_loop_figures_merge_as_one_loop():
    from evalkit.records import LoopFigures

    a = LoopFigures("latency", wall_s=10.0, busy_s=10.0, generate_s=8.0, requests=4, compiled_requests=0,
                    answered=4, generated_tokens=40)  # fmt: skip
    b = LoopFigures("latency", wall_s=12.0, busy_s=12.0, generate_s=6.0, requests=3, compiled_requests=1,
                    answered=3, generated_tokens=20)  # fmt: skip
    merged = LoopFigures.merge([a, b]).to_dict()
    assert merged["wall_s"] == 12.0 and merged["requests"] == 7 and merged["compiled_requests"] == 1
    assert merged["overhead"] == pytest.approx(1 - 14 / 22)  # the ranks' loop time not spent generating
    assert merged["samples_per_s"] == pytest.approx(7 / 12) and merged["generated_tokens_per_s"] == pytest.approx(5)
    assert LoopFigures.merge([a]).to_dict() == a.to_dict()


def test_memory_decode_and_energy_merge_across_ranks():
    from evalkit.records import merged_decode, merged_energy, merged_memory

    assert merged_memory([{"peak_rss": 10.0, "rss_growth": 2.0}, {"peak_rss": 12.0}]) == {
        "peak_rss": 12.0, "rss_growth": 2.0,
    }  # fmt: skip
    decode = merged_decode([
        {"loop": "compiled", "graphs": 2, "recompiles": 1, "graph_breaks": 0, "requests": 5, "cache_allocations": 2},
        {"loop": "compiled", "graphs": 1, "recompiles": 0, "graph_breaks": 0, "requests": 4, "cache_allocations": 1},
    ])  # fmt: skip
    assert decode["loop"] == "compiled" and (decode["graphs"], decode["recompiles"], decode["requests"]) == (3, 1, 9)
    energy = merged_energy(
        [{"joules": 30.0, "total_joules": 50.0, "idle_w": 60.0, "window_s": 5.0, "source": "NVML"},
         {"joules": 10.0, "total_joules": 20.0, "idle_w": 60.0, "window_s": 7.0, "source": "NVML"}],
        decoded_tokens=80, samples=4,
    )  # fmt: skip
    assert (energy["joules"], energy["window_s"], energy["j_per_decoded_token"]) == (40.0, 7.0, 0.5)
    unknown = merged_energy([{"joules": 30.0}, {"joules": None, "reason": "nvidia-ml-py is not installed"}], 80, 4)
    assert unknown["joules"] is None and unknown["j_per_sample"] is None  # never a partial sum read as the whole
    assert unknown["reason"] == "nvidia-ml-py is not installed"
    assert merged_decode([None, {}]) is None and merged_energy([], 1, 1) is None
