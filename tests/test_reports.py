"""Run and sweep reports: markdown content, self-contained HTML with plots and thumbnails."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_records import make_record, write_fake_run  # noqa: E402

from evalkit.records import SAMPLES_FILE, make_run_dir, write_skipped_run  # noqa: E402
from evalkit.reports import write_run_reports, write_sweep_report  # noqa: E402


def assert_self_contained(html: str) -> None:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    refs += re.findall(r"url\(([^)]*)\)", html)
    assert all(r.strip("'\" ").startswith("data:") for r in refs), [r[:60] for r in refs if not r.startswith("data:")]
    assert "<link" not in html.lower() and "<script" not in html.lower() and "<iframe" not in html.lower()


@pytest.fixture()
def image(tmp_path) -> str:
    path = tmp_path / "img" / "chart.png"
    path.parent.mkdir()
    Image.new("RGB", (640, 320), (200, 30, 30)).save(path)
    return str(path)


def test_markdown_report_has_setting_scores_ci_units_and_errors(tmp_path, image, monkeypatch):
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    run_dir = write_fake_run(tmp_path / "runs", images=[image], errors={4: "RuntimeError: CUDA out of memory"})
    md_path, html_path = write_run_reports(run_dir)
    md = md_path.read_text()
    assert md_path == run_dir / "report.md" and html_path == run_dir / "report.html"
    assert "model=tiny" in md and "dtype=float32" in md and "attn=eager" in md
    assert "ocr-basic" in md and "describe-basic" in md
    assert "**located_cer** ↓" in md and "**score** ↑" in md  # primary metrics marked, direction shown
    assert re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", md)  # mean [CI]
    assert "95% CI: Wilson for proportions, bootstrap for means" in md
    assert "| latency end_to_end | ms |" in md and "| decode speed | tokens/s |" in md
    assert "| memory peak_rss | MiB | 1500 |" in md and "| model load | s | 2.50 |" in md
    assert "median" in md and "p90" in md
    assert "### Errors (1)" in md and "`ocr-basic/ocr-basic-004`: RuntimeError: CUDA out of memory" in md
    assert len(md.splitlines()) < 60  # short enough for a job summary
    step = summary_file.read_text()
    assert step.startswith("previous step\n") and "ocr-basic" in step


def test_html_report_is_self_contained_with_plots_and_thumbnails(tmp_path, image, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    run_dir = write_fake_run(tmp_path / "runs", images=[image])
    _, html_path = write_run_reports(run_dir)
    html = html_path.read_text()
    assert_self_contained(html)
    assert html.count("data:image/png;base64,") >= 4  # scores, by-tag plots, latency, memory
    assert html.count("data:image/jpeg;base64,") >= 8  # worst samples carry their thumbnail
    assert "Worst samples per suite" in html and "INVOICE 0004" in html  # reference label shown
    assert "rocket / rockets; sky" in html  # keywords shown for describe
    assert "What does image" in html  # the question


def test_thumbnails_are_at_most_256px(tmp_path, image):
    import base64
    import io

    from evalkit.reports.html import thumbnail

    tag = thumbnail(image)
    data = base64.b64decode(re.search(r"base64,([^'\"]+)", tag).group(1))
    assert max(Image.open(io.BytesIO(data)).size) == 256


def _thumbnail_pixel(path: Path) -> tuple[int, int, int]:
    import base64
    import io

    from evalkit.reports.html import thumbnail

    data = base64.b64decode(re.search(r"base64,([^'\"]+)", thumbnail(str(path))).group(1))
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((4, 4))


def test_thumbnails_show_what_the_model_saw(tmp_path):
    """A 16-bit grey PNG showed white and a palette PNG's transparent pixels showed their stored colour (red); the
    model sees mid grey and white (its image pipeline scales 16 bits and puts transparency over white)."""
    import numpy as np

    from evalkit.phi3v.images import load_image

    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((32, 32), 0x8000, dtype=np.uint16)).save(grey16)
    assert Image.open(grey16).mode.startswith("I;16")
    palette = tmp_path / "palette.png"
    p = Image.new("P", (32, 32), 0)
    p.putpalette([255, 0, 0, 0, 0, 255])  # index 0 red (transparent), index 1 blue
    p.save(palette, transparency=0)
    for path in (grey16, palette):
        model = load_image(path).getpixel((4, 4))
        assert all(abs(a - b) <= 3 for a, b in zip(_thumbnail_pixel(path), model, strict=True)), path  # JPEG noise
    assert all(abs(c - 128) <= 3 for c in _thumbnail_pixel(grey16))
    assert all(c >= 252 for c in _thumbnail_pixel(palette))


def test_missing_image_gives_placeholder_not_failure(tmp_path):
    run_dir = write_fake_run(tmp_path / "runs", images=[str(tmp_path / "gone.png")])
    _, html_path = write_run_reports(run_dir)
    html = html_path.read_text()
    assert "image not found" in html and "gone.png" in html
    assert_self_contained(html)


def test_report_of_killed_run_rebuilds_scores_from_samples(tmp_path):
    run_dir = write_fake_run(tmp_path / "runs")
    # Turn it into a hard-killed run: run.json still "running" with no summary, last line truncated.
    run_json = run_dir / "run.json"
    text = run_json.read_text().replace('"status": "complete"', '"status": "running"')
    text = re.sub(r'"summary": \{.*?\n  \},\n  "performance"', '"summary": {},\n  "performance"', text, flags=re.S)
    run_json.write_text(text)
    with open(run_dir / SAMPLES_FILE, "a") as fh:
        fh.write('{"sample_id": "ocr-basic-0')
    with pytest.warns(UserWarning, match="truncated"):
        md_path, _ = write_run_reports(run_dir)
    md = md_path.read_text()
    assert "killed" in md and "**located_cer**" in md


def test_skipped_run_report(tmp_path):
    run_dir = make_run_dir(tmp_path, "tiny-float16-flash")
    write_skipped_run(run_dir, make_record("tiny-float16-flash"), "flash-attn needs a CUDA GPU")
    md_path, html_path = write_run_reports(run_dir)
    assert "Skipped:** flash-attn needs a CUDA GPU" in md_path.read_text()
    assert_self_contained(html_path.read_text())


def test_sweep_report_side_by_side_with_skipped_reason(tmp_path):
    runs = tmp_path / "runs"
    a = write_fake_run(runs, "tiny-float32-eager")
    b = write_fake_run(runs, "tiny-bfloat16-sdpa", score_shift=0.02, latency_scale=0.5, dtype="bfloat16", attn="sdpa")
    c = make_run_dir(runs, "tiny-float16-flash")
    write_skipped_run(c, make_record("tiny-float16-flash", dtype="float16", attn="flash"), "flash-attn not installed")
    md_path, html_path = write_sweep_report(tmp_path / "sweep", [a, b, c])
    md = md_path.read_text()
    lines = md.splitlines()
    header = next(ln for ln in lines if ln.startswith("| setting"))
    assert "ocr-basic: located_cer" in header and "describe-basic: score" in header
    assert "e2e median (ms)" in header and "decode tokens/s" in header and "peak RSS (MiB)" in header
    row_a = next(ln for ln in lines if ln.startswith("| tiny-float32-eager"))
    row_b = next(ln for ln in lines if ln.startswith("| tiny-bfloat16-sdpa"))
    assert "| 1500 |" in row_a and "| 750 |" in row_b
    assert "`tiny-float16-flash`: flash-attn not installed" in md
    assert "**Common setting:** model=tiny" in md
    html = html_path.read_text()
    assert_self_contained(html)
    assert html.count("data:image/png;base64,") == 2
    assert "flash-attn not installed" in html


def test_reports_show_truncation_budgets_and_directionless_metrics(tmp_path, image):
    import json

    from evalkit.reports.common import arrow
    from evalkit.reports.comparison import _verdict
    from evalkit.scoring.statistics import Estimate

    run_dir = write_fake_run(tmp_path / "runs", images=[image])
    lines = (run_dir / SAMPLES_FILE).read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for i, row in enumerate(rows):
        row["max_new_tokens"], row["truncated"] = 3, i < 2  # two ocr answers hit their budget
    (run_dir / SAMPLES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    md_path, html_path = write_run_reports(run_dir)
    assert "**Truncated answers** (reached their max_new_tokens budget before a stop token): ocr-basic 2/12" in (
        md_path.read_text()
    )
    html = html_path.read_text()
    assert "3/3 tokens</span> <span class='bad'>truncated</span>" in html and "Truncated answers" in html
    assert arrow("yes_ratio") == "↕" and arrow("score") == "↑" and arrow("located_cer") == "↓"
    assert _verdict(Estimate(0.2, 0.1, 0.3, 10), None) == "changed"  # a directionless metric never regresses


def test_markdown_breaks_the_primary_score_down_by_question_type_and_difficulty():
    from test_records import make_prediction

    from evalkit.records import summarize
    from evalkit.reports.common import RunView
    from evalkit.reports.markdown import breakdown_table

    preds = []
    for i in range(4):
        p = make_prediction(i, "describe-basic")
        p.tags = {"type": "yes_no" if i % 2 else "free_form", "difficulty": "hard" if i == 3 else "easy"}
        preds.append(p)
    record = make_record()
    record.summary = summarize(preds)
    table = breakdown_table(RunView(Path("x"), "run", record, preds))
    assert (
        "| describe-basic | score ↑ | free_form 0.80 (2) · yes_no 0.70 (2) | easy 0.80 (3) · hard 0.60 (1) |" in table
    )


def test_compiles_inside_timed_requests_and_graph_breaks_are_warned_about(tmp_path):
    import json

    from evalkit.records import RUN_FILE

    run_dir = write_fake_run(tmp_path / "runs")
    data = json.loads((run_dir / RUN_FILE).read_text())
    data["performance"]["harness"] = {"mode": "latency", "overhead": 0.1, "compiled_requests": 2}
    data["performance"]["decode"] = {"loop": "compiled", "graphs": 3, "recompiles": 2, "graph_breaks": 1}
    data["performance"]["decode_tokens_per_s_aggregate"] = {"n": 5, "median": 40.0, "p90": 44.0, "unit": "tokens/s"}
    data["performance"]["batch_size"] = 4
    (run_dir / RUN_FILE).write_text(json.dumps(data))
    md = write_run_reports(run_dir)[0].read_text()
    assert "**Warning: 2 timed request(s) included torch.compile building a graph**" in md
    assert "**Warning: the compiled decode step had 1 graph break(s).**" in md
    assert "| decode speed (aggregate, all rows of a batch) | tokens/s | 40.0 | 44.0 | 5 |" in md
    clean = write_fake_run(tmp_path / "clean")
    assert "Warning" not in write_run_reports(clean)[0].read_text()
