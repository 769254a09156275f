"""The suite format: loading the committed suites, validation errors with file:line, hashing, regeneration."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from evalkit.data.suites import (
    DATASETS_DIR,
    INSTRUCTIONS,
    TASK_TYPES,
    TASKS,
    Relation,
    Sample,
    Suite,
    available_suites,
    load_suite,
    question_text,
    resolve_suites,
)
from evalkit.errors import SuiteError

REPO = Path(__file__).resolve().parents[1]
MIN_SAMPLES = {"describe": 70, "ocr": 50, "compare": 45}


@pytest.fixture(scope="module")
def suites() -> dict[str, Suite]:
    return {s.name: s for s in resolve_suites(sorted(MIN_SAMPLES))}


# ---------------------------------------------------------------- committed suites


def test_committed_suites_load_with_their_counts(suites):
    assert set(available_suites()) >= set(MIN_SAMPLES)
    for name, minimum in MIN_SAMPLES.items():
        suite = suites[name]
        assert suite.task == name
        assert len(suite.samples) >= minimum, name
        assert suite.version and suite.description
        assert suite.content_hash.startswith("sha256:") and len(suite.content_hash) == 7 + 64
        assert len({s.id for s in suite.samples}) == len(suite.samples)


def test_samples_carry_task_labels(suites):
    for suite in suites.values():
        for s in suite.samples:
            assert isinstance(s, Sample) and s.suite == suite.name and s.task == suite.task
            assert all(p.is_absolute() and p.is_file() for p in s.images)
            assert s.question.strip() and s.line > 0 and s.type in TASK_TYPES[s.task]
            assert len(s.images) == (2 if s.task == "compare" else 1)
            assert s.tags["difficulty"] in ("easy", "medium", "hard") and "type" not in s.tags
            if s.type == "transcription":
                assert s.reference and not s.answers and not s.keywords
            elif s.type == "free_form":
                assert s.keywords and s.reference is None and not s.answers
            else:
                assert s.answers and s.reference is None and not s.keywords


def test_label_kinds_are_covered(suites):
    ocr = suites["ocr"].samples
    assert sum(1 for s in ocr if s.type == "short_answer") >= 15  # one field per question
    assert {s.tags["degradation"] for s in ocr} >= {"none", "rotation", "blur", "noise", "jpeg", "perspective"}
    assert sum(1 for s in ocr if s.tags["source"] == "real") >= 4
    assert any(s.case_sensitive for s in ocr) and any(not s.case_sensitive for s in ocr)
    describe = suites["describe"].samples
    assert sum(1 for s in describe if s.tags["category"] == "photo" and s.type == "free_form") >= 15
    assert sum(1 for s in describe if s.tags["category"] == "chart" and s.type == "free_form") >= 8
    for suite in ("describe", "compare"):
        types = {s.type for s in suites[suite].samples}
        assert types == {"free_form", "short_answer", "multiple_choice", "yes_no"}, suite
    assert {s.match for s in describe if s.type == "short_answer"} == {"exact", "number", "time"}
    assert any(s.tags.get("category") == "real_pair" for s in suites["compare"].samples)
    for suite in suites.values():  # every difficulty level is used somewhere, and each suite has a spread
        assert len({s.tags["difficulty"] for s in suite.samples}) >= 2


def test_question_text_adds_options_and_instructions(suites):
    by_id = {s.id: s for s in suites["describe"].samples}
    assert question_text(by_id["photo_chelsea_animal"]) == (
        "What animal is in this photo?\nA. cat\nB. dog\nC. rabbit\nD. fox\n" + INSTRUCTIONS["multiple_choice"]
    )
    assert question_text(by_id["photo_astronaut_no_dog"]).endswith("\nAnswer yes or no.")
    assert question_text(by_id["photo_chelsea"]) == by_id["photo_chelsea"].question


def test_validation_is_fast():
    start = time.perf_counter()
    resolve_suites(sorted(MIN_SAMPLES))
    assert time.perf_counter() - start < 2.0


def test_content_hash_is_stable_and_tracks_bytes(suites, tmp_path):
    copy = tmp_path / "ocr"
    shutil.copytree(suites["ocr"].path, copy)
    assert load_suite(copy).content_hash == suites["ocr"].content_hash
    (copy / "README.md").write_text("edited docs do not change the suite\n")
    assert load_suite(copy).content_hash == suites["ocr"].content_hash
    image = suites["ocr"].samples[0].images[0]
    target = copy / image.relative_to(suites["ocr"].path)
    Image.open(target).convert("RGB").rotate(180).save(target)
    assert load_suite(copy).content_hash != suites["ocr"].content_hash


def test_resolve_by_name_or_path_and_unknown_names(tmp_path):
    by_path = resolve_suites([str(DATASETS_DIR / "compare")])[0]
    assert by_path.name == "compare"
    with pytest.raises(SuiteError, match=r"unknown suite 'nope'.*compare.*describe.*ocr"):
        resolve_suites(["nope"])
    _write_suite(tmp_path / "mine", "ocr", [_ocr_line("a")])
    assert resolve_suites(["mine"], root=tmp_path)[0].samples[0].id == "a"


# ---------------------------------------------------------------- broken suites: file, line and reason


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "white").save(path)


def _ocr_line(sid: str, **overrides) -> dict:
    return {"id": sid, "images": ["images/a.png"], "question": "Read all the text in this image.",
            "reference": "HELLO", **overrides}  # fmt: skip


def _short_line(sid: str, **extra) -> dict:
    return {"id": sid, "type": "short_answer", "images": ["images/a.png"], "question": "What is the total?", **extra}


def _write_suite(root: Path, task: str, lines: list, meta: dict | None = None) -> Path:
    _png(root / "images" / "a.png")
    meta = meta if meta is not None else {"name": root.name, "task": task, "version": "1", "description": "test"}
    (root / "suite.json").write_text(json.dumps(meta))
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    (root / "manifest.jsonl").write_text(text)
    return root


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([_ocr_line("a"), _ocr_line("b", images=["images/missing.png"])], r":2: missing image .*missing\.png"),
        ([_ocr_line("a"), _ocr_line("a")], r":2: duplicate id 'a' \(first on line 1\)"),
        ([_ocr_line("a", reference="  ")], r":1: field 'reference' is empty"),
        ([_ocr_line("a", referense="x")], r":1: unknown field 'referense'"),
        ([_ocr_line("a", keywords=[["x"]])], r":1: field 'keywords' is not used by type 'transcription'"),
        ([_ocr_line("a", reference=5)], r":1: field 'reference' must be a string, got int"),
        ([_ocr_line("a", images="images/a.png")], r":1: field 'images' must be a list of strings, got str"),
        ([_ocr_line("a", case_sensitive="no")], r":1: field 'case_sensitive' must be true or false"),
        ([_ocr_line("a", fields={"title": "x"})], r":1: field 'fields' is no longer supported: ask one field per"),
        ([_ocr_line("a", type="essay")], r":1: unknown type 'essay'"),
        ([_ocr_line("a", type="yes_no")], r":1: type 'yes_no' is not used by task 'ocr'"),
        ([_ocr_line("a", type="short_answer")], r":1: field 'reference' is not used by type 'short_answer'"),
        ([_short_line("a")], r":1: missing field 'answers'"),
        ([_short_line("a", answers=[])], r":1: field 'answers' is empty"),
        ([_short_line("a", answers=["x"], match="fuzzy")], r":1: field 'match' must be one of exact, anls, number"),
        ([_ocr_line("a", tags={"type": "x"})], r":1: tag 'type' is reserved"),
        ([_ocr_line("a", tags=["x"])], r":1: field 'tags' must be an object of strings"),
        ([_ocr_line("a"), "", '{"id": "b", "images": [}'], r":3: invalid JSON"),
        ([_ocr_line("a"), "[1, 2]"], r":2: expected a JSON object, got list"),
        ([{k: v for k, v in _ocr_line("a").items() if k != "reference"}], r":1: missing field 'reference'"),
        ([_ocr_line("a", images=["/abs/a.png"])], r":1: image path '/abs/a.png' must be relative"),
        ([], r": no samples"),
    ],
)
def test_broken_manifest_names_file_line_and_reason(tmp_path, monkeypatch, lines, message):
    monkeypatch.chdir(tmp_path)
    _write_suite(tmp_path / "bad", "ocr", lines)
    with pytest.raises(SuiteError, match=r"^bad/manifest\.jsonl" + message):
        load_suite(tmp_path / "bad")


def test_unreadable_and_truncated_images(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _write_suite(tmp_path / "bad", "ocr", [_ocr_line("a"), _ocr_line("b", images=["images/b.png"])])
    (root / "images" / "b.png").write_bytes(b"not an image at all")
    with pytest.raises(SuiteError, match=r"^bad/manifest\.jsonl:2: unreadable image bad/images/b\.png"):
        load_suite(root)
    big = Image.effect_noise((256, 256), 64).convert("RGB")
    for name, fmt in (("b.png", "PNG"), ("b.jpg", "JPEG")):
        big.save(root / "images" / name, fmt)
        data = (root / "images" / name).read_bytes()
        (root / "images" / name).write_bytes(data[: len(data) // 2])
        _write_suite(root, "ocr", [_ocr_line("a"), _ocr_line("b", images=[f"images/{name}"])])
        with pytest.raises(SuiteError, match=rf":2: unreadable image bad/images/{name}"):
            load_suite(root)


def test_task_specific_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = {"id": "p", "images": ["images/a.png"], "question": "What is different?", "keywords": [["x"]]}
    _write_suite(tmp_path / "cmp", "compare", [line])
    with pytest.raises(SuiteError, match=r"cmp/manifest\.jsonl:1: task 'compare' needs exactly 2 images, got 1"):
        load_suite(tmp_path / "cmp")
    mc = {"id": "m", "type": "multiple_choice", "images": ["images/a.png"], "question": "Which?"}
    for extra, message in [
        ({"keywords": [["cat"], []]}, r"field 'keywords\[1\]' is an empty group"),
        ({"keywords": [{"object": ["square"]}]}, r"relation 'keywords\[0\]' needs at least 2 roles"),
        (
            {"keywords": [{"a": ["x"], "b": ["y"], "order": ["a", "c"]}]},
            r"relation 'keywords\[0\]': 'order' must list 2 or more distinct roles",
        ),
        ({"keywords": [{"a": ["x"], "b": []}]}, r"relation 'keywords\[0\]': role 'b' has no alternatives"),
        ({"reference": "x"}, r"field 'reference' is not used by type 'free_form'"),
        (
            {"type": "short_answer", "keywords": None, "answers": ["x"], "case_sensitive": True},
            r"field 'case_sensitive' is not used by task 'describe'",
        ),
        (
            {**mc, "keywords": None, "choices": ["a"], "answers": ["A"]},
            r"type 'multiple_choice' needs 2 to 8 choices, got 1",
        ),
        (
            {**mc, "keywords": None, "choices": ["a", "b"], "answers": ["C"]},
            r"type 'multiple_choice' needs answers with one letter of A, B",
        ),
        ({"type": "yes_no", "keywords": None, "answers": ["Yes"]}, r"type 'yes_no' needs answers \["),
    ]:
        body = {k: v for k, v in {**line, **extra}.items() if v is not None}
        _write_suite(tmp_path / "desc", "describe", [body])
        with pytest.raises(SuiteError, match=r"desc/manifest\.jsonl:1: " + message):
            load_suite(tmp_path / "desc")


def test_new_question_types_load(tmp_path):
    base = {"images": ["images/a.png"], "question": "Q?"}
    lines = [
        {**base, "id": "f", "keywords": [["cat"], {"object": ["square"], "change": ["removed"]}], "forbidden": ["dog"]},
        {**base, "id": "s", "type": "short_answer", "answers": ["170"], "match": "number"},
        {**base, "id": "m", "type": "multiple_choice", "choices": ["dog", "cat"], "answers": ["B"]},
        {**base, "id": "y", "type": "yes_no", "answers": ["no"]},
        {**base, "id": "o", "type": "free_form", "keywords": [{"before": ["a"], "after": ["b"], "order": ["before", "after"]}]},
    ]  # fmt: skip
    samples = {s.id: s for s in load_suite(_write_suite(tmp_path / "d", "describe", lines)).samples}
    assert samples["f"].type == "free_form" and isinstance(samples["f"].keywords[1], Relation)
    assert samples["f"].keywords[1].to_json() == {"object": ["square"], "change": ["removed"]}
    assert samples["o"].keywords[0].order == ("before", "after")
    assert samples["s"].match == "number" and samples["m"].choices == ("dog", "cat") and samples["y"].answers == ("no",)
    assert load_suite(_write_suite(tmp_path / "o", "ocr", [_ocr_line("a")])).samples[0].type == "transcription"


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"name": "x", "task": "poetry", "version": "1", "description": "d"}, r"unknown task 'poetry'"),
        ({"name": "x", "task": "ocr", "version": "1"}, r"missing field 'description'"),
        ({"name": "x", "task": "ocr", "version": 1, "description": "d"}, r"field 'version' must be a non-empty string"),
        ({"name": "x", "task": "ocr", "version": "1", "description": "d", "owner": "me"}, r"unknown field 'owner'"),
    ],
)
def test_broken_suite_json(tmp_path, monkeypatch, meta, message):
    monkeypatch.chdir(tmp_path)
    _write_suite(tmp_path / "bad", "ocr", [_ocr_line("a")], meta=meta)
    with pytest.raises(SuiteError, match=r"^bad/suite\.json: " + message):
        load_suite(tmp_path / "bad")


def test_tasks_constant():
    assert TASKS == ("describe", "ocr", "compare", "vqa")  # vqa: the standard benchmarks (evalkit.data.benchmarks)


# ---------------------------------------------------------------- regeneration is byte for byte


def _make_suites_module():
    path = REPO / "scripts" / "make_suites.py"
    spec = importlib.util.spec_from_file_location("make_suites", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_suites"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("suite", "rel"),
    [
        ("ocr", "images/cover_alone_rotation.png"),
        ("ocr", "images/para_lighthouse_rotation_noise.png"),
        ("describe", "images/chart_dc_revenue.png"),
    ],
)
def test_rendered_images_regenerate_byte_for_byte(suite, rel):
    make_suites = _make_suites_module()
    # Byte equality holds for the same Pillow / matplotlib / numpy builds; say which ones when it does not.
    import matplotlib
    import numpy
    import PIL

    versions = f"Pillow {PIL.__version__}, matplotlib {matplotlib.__version__}, numpy {numpy.__version__}"
    assert make_suites.render_image(suite, rel) == (DATASETS_DIR / suite / rel).read_bytes(), versions


def test_regenerated_manifest_and_readme_match(tmp_path):
    pytest.importorskip("skimage", reason="the compare suite edits photos shipped in scikit-image")
    make_suites = _make_suites_module()
    make_suites.write_suite("compare", tmp_path)
    for name in ("manifest.jsonl", "suite.json", "README.md"):
        assert (tmp_path / "compare" / name).read_bytes() == (DATASETS_DIR / "compare" / name).read_bytes(), name


def test_index_readme_matches_the_committed_suites_and_the_scorer():
    """datasets/README.md (table, worked examples) is what the generator makes from the committed suites with
    today's metrics: a scoring change that alters an example must regenerate the page."""
    _make_suites_module()  # puts scripts/ on sys.path
    from suitegen import SUITES
    from suitegen.docs import index_readme

    assert index_readme(DATASETS_DIR, list(SUITES)) == (DATASETS_DIR / "README.md").read_text(encoding="utf-8")
