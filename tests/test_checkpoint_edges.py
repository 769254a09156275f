"""Checkpoints at the edges: the random-checkpoint cache under concurrent runs, --overwrite, wrongly typed configs,
and a checkpoint's generation_config.json that must not change greedy decoding."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import GenerationConfig

from evalkit import cli
from evalkit.cli import generate
from evalkit.config.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.errors import CheckpointError
from evalkit.phi3v import Phi3VProcessor, build_prompt, load_model
from evalkit.phi3v import checkpoints as ckpt
from evalkit.phi3v.config import parse_config
from evalkit.phi3v.hub import weight_files, weights_fingerprint
from evalkit.records import load_run
from evalkit.run import runner

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the cache under several processes

_CHILD = """
import sys, time
from pathlib import Path
cache, ready, go = (Path(a) for a in sys.argv[1:4])
from evalkit.phi3v.checkpoints import cached_tiny_checkpoint
from evalkit.phi3v.hub import weights_fingerprint
from evalkit.phi3v.loading import load_model
ready.touch()
while not go.exists():
    time.sleep(0.005)
path = cached_tiny_checkpoint(cache)
load_model(path)
print(path, weights_fingerprint(path)["sha256"])
"""


@pytest.mark.slow
def test_processes_started_together_on_an_empty_cache_share_one_checkpoint(tmp_path):
    cache, n = tmp_path / "cache", 3
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(cache), str(tmp_path / f"ready{i}"), str(tmp_path / "go")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for i in range(n)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "a child died while starting"
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all of them ask for the checkpoint at the same moment
    outputs = [c.communicate(timeout=180) for c in children]
    assert [c.returncode for c in children] == [0] * n, [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1  # the same path and the same weights everywhere
    assert [p.name for p in cache.iterdir()] == ["phi3v-tiny-seed0"]  # no temporary directories left behind


def test_a_damaged_cache_entry_says_how_to_remove_it(tmp_path, capsys):
    entry = ckpt.cached_tiny_checkpoint(tmp_path / "cache")
    assert ckpt.cached_tiny_checkpoint(tmp_path / "cache") == entry  # made once, then reused
    weights = entry / "model.safetensors"
    written = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short, e.g. a full disk or a killed copy
    with pytest.raises(CheckpointError) as err:
        ckpt.cached_tiny_checkpoint(tmp_path / "cache")
    assert str(err.value) == (
        f"{entry}: damaged checkpoint cache entry (model.safetensors has 1000 bytes, {written} were written);"
        f" remove it (rm -rf '{entry}') and it is made again"
    )
    (entry / "tokenizer.json").unlink()
    args = ["suites=[ocr]", "limit=1", f"cache_dir={tmp_path / 'cache'}", f"output_dir={tmp_path / 'runs'}"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged checkpoint cache entry (model.safetensors" in err
    shutil.rmtree(entry)  # what the message says to do
    assert ckpt.cached_tiny_checkpoint(tmp_path / "cache") == entry


def test_a_cache_entry_from_before_the_marker_is_still_used(tmp_path):
    entry = ckpt.cached_tiny_checkpoint(tmp_path / "cache")
    (entry / ckpt.MARKER).unlink()
    assert ckpt.cached_tiny_checkpoint(tmp_path / "cache") == entry
    (entry / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"damaged checkpoint cache entry \(missing config\.json\)"):
        ckpt.cached_tiny_checkpoint(tmp_path / "cache")


# ---------------------------------------------------------------- make-checkpoint --overwrite


def test_overwrite_refuses_a_directory_holding_other_files(tmp_path, capsys):
    target = ckpt.make_checkpoint(tmp_path / "ckpt", "tiny")
    (target / "notes.txt").write_text("my notes")
    (target / "data").mkdir()
    before = weights_fingerprint(target)
    assert cli.main(["make-checkpoint", str(target), "--overwrite", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"evalkit: error: {target}: not replaced: it holds files that are not part of a checkpoint (data/, notes.txt)"
    )
    assert (target / "notes.txt").read_text() == "my notes" and weights_fingerprint(target) == before
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(CheckpointError, match=r"\(thesis\.tex\)$"):
        ckpt.make_checkpoint(home, "tiny", overwrite=True)
    assert (home / "thesis.tex").read_text() == "years of work"


def test_overwrite_replaces_a_checkpoint(tmp_path):
    target = ckpt.make_checkpoint(tmp_path / "ckpt", "tiny", seed=0)
    before = weights_fingerprint(target)["sha256"]
    ckpt.make_checkpoint(target, "tiny", seed=1, overwrite=True)
    assert weights_fingerprint(target)["sha256"] != before
    assert json.loads((target / ckpt.MARKER).read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # nothing left aside


# ---------------------------------------------------------------- wrongly typed checkpoint configs


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"hidden_size": "64"}, "hidden_size must be an integer >= 1, got '64'"),
        ({"num_hidden_layers": 2.5}, "num_hidden_layers must be an integer >= 1, got 2.5"),
        ({"num_attention_heads": 0}, "num_attention_heads must be an integer >= 1, got 0"),
        ({"num_attention_heads": 3}, "hidden_size 64 is not divisible by num_attention_heads 3"),
        ({"vocab_size": True}, "vocab_size must be an integer >= 1, got True"),
        ({"rope_theta": "10000"}, "rope_theta must be a positive number, got '10000'"),
        ({"rope_scaling": [1, 2]}, "rope_scaling must be an object, got list"),
        ({"rope_scaling": {"type": "su", "short_factor": [1.0] * 8, "long_factor": [1.0] * 48}},
         "rope_scaling.long_factor has 48 entries; head size 16 needs 8"),
        ({"rope_scaling": {"type": "su", "short_factor": ["1"] * 8, "long_factor": [1.0] * 8}},
         "rope_scaling.short_factor must be a list of positive numbers"),
        ({"embd_layer": [1]}, "embd_layer must be an object, got list"),
        ({"img_processor": {"image_dim_out": "1024"}}, "img_processor.image_dim_out must be an integer >= 1"),
    ],
)  # fmt: skip
def test_wrong_value_types_in_config_json_are_one_line_errors(patch, message):
    raw = {**ckpt.checkpoint_config("tiny"), **patch}
    with pytest.raises(CheckpointError) as err:
        parse_config(raw, "ckpt/config.json")
    assert str(err.value) == f"ckpt/config.json: {message}" or str(err.value).startswith(f"ckpt/config.json: {message}")


def _doctored(tmp_path: Path, source: Path, name: str, edit) -> Path:
    target = tmp_path / name
    shutil.copytree(source, target)
    edit(target)
    return target


def test_an_absurd_size_is_refused_before_anything_is_allocated(tmp_path, tiny_checkpoint):
    def huge_vocab(path):
        cfg = json.loads((path / "config.json").read_text())
        (path / "config.json").write_text(json.dumps({**cfg, "vocab_size": 4_000_000_000}))

    broken = _doctored(tmp_path, tiny_checkpoint, "huge", huge_vocab)
    start = time.perf_counter()
    with pytest.raises(
        CheckpointError,
        match=r"(lm_head|embed_tokens)\.weight has shape \(32064, 64\), the config implies \(4000000000, 64\)",
    ):
        load_model(broken)  # 1 TB of float32 if it were allocated
    assert time.perf_counter() - start < 10


def test_weight_map_that_is_not_a_mapping(tmp_path, tiny_checkpoint):
    for name, index in (
        ("list", {"weight_map": ["model.safetensors"]}),
        ("escape", {"weight_map": {"a": "../x.safetensors"}}),
    ):
        broken = _doctored(
            tmp_path,
            tiny_checkpoint,
            name,
            lambda p, i=index: (p / "model.safetensors.index.json").write_text(json.dumps(i)),
        )  # noqa: E501
        with pytest.raises(CheckpointError, match=r"model\.safetensors\.index\.json: weight_map") as err:
            weight_files(broken)
        assert "\n" not in str(err.value)


def test_generate_with_zero_new_tokens_exits_2_before_loading(tiny_checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(generate.engine, "load", lambda *a, **k: pytest.fail("the model must not be loaded"))
    args = ["--model", str(tiny_checkpoint), "--prompt", "Hi", "--max-new-tokens", "0"]
    assert generate.main(args) == 2
    assert capsys.readouterr().err.strip() == "evalkit generate: error: --max-new-tokens must be at least 1, got 0"


# ---------------------------------------------------------------- greedy decoding, whatever generation_config.json says

_DECODING_OPTIONS = {
    "num_beams": 3,
    "repetition_penalty": 5.0,
    "no_repeat_ngram_size": 1,
    "do_sample": True,
    "temperature": 0.7,
    "max_length": 6,
}


@pytest.fixture(scope="module")
def beam_checkpoint(tmp_path_factory, tiny_checkpoint) -> Path:
    def add_options(path):
        published = json.loads((path / "generation_config.json").read_text())
        (path / "generation_config.json").write_text(json.dumps({**published, **_DECODING_OPTIONS}))

    return _doctored(tmp_path_factory.mktemp("gen"), tiny_checkpoint, "beams", add_options)


def test_checkpoint_decoding_options_are_ignored(beam_checkpoint, tiny_checkpoint):
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint)
    x = processor(build_prompt("Tell me a long story about a cat.", 0))
    plain, doctored = load_model(tiny_checkpoint), load_model(beam_checkpoint)
    with torch.inference_mode():
        expected = plain.generate(**x, max_new_tokens=12, min_new_tokens=12)
        got = doctored.generate(**x, max_new_tokens=12, min_new_tokens=12)
        # What the file's options would have produced: the test can tell them apart.
        steered = plain.generate(
            **x,
            generation_config=GenerationConfig.from_pretrained(beam_checkpoint),
            min_new_tokens=12,
            max_new_tokens=12,
        )  # noqa: E501
    assert got.tolist() == expected.tolist() and steered.tolist() != expected.tolist()
    config = doctored.generation_config
    assert (config.num_beams, config.do_sample, config.repetition_penalty, config.no_repeat_ngram_size) == (
        1,
        False,
        1.0,
        0,
    )
    assert doctored.decoding["strategy"] == "greedy"
    assert doctored.decoding["ignored_checkpoint_options"] == _DECODING_OPTIONS
    assert plain.decoding["ignored_checkpoint_options"] == {}


@pytest.mark.slow
def test_run_json_records_the_decoding_configuration(tmp_path, beam_checkpoint):
    cfg = EvalConfig(
        model=ModelConfig(name="beams", path=str(beam_checkpoint), random=None),
        runtime=RuntimeConfig(device="cpu", num_crops=1, max_new_tokens=3, warmup=0),
        suites=["ocr"], limit=1, output_dir=str(tmp_path / "runs"), progress=False, reports=False,
    )  # fmt: skip
    record, _ = load_run(runner.run(cfg).run_dir)
    decoding = record.provenance["decoding"]
    assert decoding["strategy"] == "greedy" and decoding["num_beams"] == 1 and decoding["do_sample"] is False
    assert decoding["max_new_tokens"] == 3 and decoding["eos_token_id"] == [32007, 32000]
    assert decoding["ignored_checkpoint_options"] == _DECODING_OPTIONS
