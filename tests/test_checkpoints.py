"""Random checkpoints in the published layout, sharded loading, Phi-3.5-vision, and the one-shot CLI."""

from __future__ import annotations

import json

import pytest
import torch

from evalkit import cli
from evalkit.cli import app, generate
from evalkit.phi3v import Phi3VProcessor, build_prompt, load_model
from evalkit.phi3v import checkpoints as ckpt
from evalkit.phi3v.hub import weight_files


def test_sharded_checkpoint_loads_through_its_index(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setattr(ckpt, "SHARD_BYTES", 8 * 1024**2)  # force several shards out of the 28 MB tiny model
    sharded = ckpt.make_checkpoint(tmp_path / "sharded", "tiny")
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    files = weight_files(sharded)
    assert len(files) > 1 and {f.name for f in files} == set(index["weight_map"].values())
    assert not (sharded / "model.safetensors").exists()
    a, b = load_model(sharded), load_model(tiny_checkpoint)
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), name


def test_missing_shard_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "SHARD_BYTES", 8 * 1024**2)
    sharded = ckpt.make_checkpoint(tmp_path / "sharded", "tiny")
    victim = sorted(sharded.glob("model-*.safetensors"))[-1]
    victim.unlink()
    with pytest.raises(Exception, match=f"missing: {victim.name}"):
        load_model(sharded)


def test_phi35_vision_tiny_checkpoint_loads_and_generates(tmp_path):
    path = ckpt.make_checkpoint(tmp_path / "phi35", "tiny", family="phi35v")
    config = json.loads((path / "config.json").read_text())
    assert config["_name_or_path"] == "Phi-3.5-vision-instruct" and config["rope_scaling"]["type"] == "su"
    model = load_model(path, attn_implementation="eager")
    processor = Phi3VProcessor.from_pretrained(path)
    out = model.generate(**processor(build_prompt("Hello", 0)), max_new_tokens=3, min_new_tokens=3)
    assert out.shape[1] == processor(build_prompt("Hello", 0))["input_ids"].shape[1] + 3


def test_make_checkpoint_command(tmp_path, capsys):
    assert cli.main(["make-checkpoint", str(tmp_path / "t"), "--size", "tiny", "--seed", "3"]) == 0
    assert "14.3 M parameters" in capsys.readouterr().out
    assert cli.main(["make-checkpoint", str(tmp_path / "t")]) == app.EXIT_USER_ERROR
    assert "not empty" in capsys.readouterr().err


def test_one_shot_generate_cli(tiny_checkpoint, reference_dir, capsys):
    image = str(reference_dir / "images" / "coffee.png")
    args = [
        "--model",
        str(tiny_checkpoint),
        "--image",
        image,
        "--prompt",
        "Describe this image.",
        "--max-new-tokens",
        "4",
    ]
    assert generate.main([*args, "--num-crops", "1"]) == 0
    assert capsys.readouterr().out.strip()
    assert (
        generate.main([*args[:2], "--image", image, "--image", image, "--prompt", "Compare.", "--num-crops", "1"]) == 0
    )
    assert generate.main(["--model", str(tiny_checkpoint), "--image", "/nonexistent.png", "--prompt", "x"]) == 2
    assert "image file not found" in capsys.readouterr().err
    raw = ["--model", str(tiny_checkpoint), "--raw", "--prompt", "<|image_2|> wrong", "--image", image]
    assert generate.main(raw) == 2
    assert "<|image_2|>" in capsys.readouterr().err
