"""The inference core against the official implementation's recorded outputs, and its loading rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_hub_cache
from safetensors.torch import load_file, save_file

from evalkit.errors import CheckpointError, ConfigError, InputError, UnsupportedSettingError
from evalkit.phi3v import Phi3VForCausalLM, Phi3VProcessor, build_prompt, load_model
from evalkit.phi3v.checkpoints import checkpoint_config, count_parameters, make_checkpoint
from evalkit.phi3v.config import parse_config
from evalkit.phi3v.decode import GreedyDecoder
from evalkit.phi3v.hub import file_sha256, resolve_model, weights_fingerprint
from evalkit.phi3v.loading import check_setting

CASES = ("single_image_describe", "two_images_compare", "text_only")


def _case_inputs(reference_dir: Path, case: dict):
    data = np.load(reference_dir / f"{case['name']}.npz")
    ids = torch.tensor(data["input_ids"])[None]
    images = {}
    if case["images"]:
        images = {
            "pixel_values": torch.tensor(data["pixel_values"]).float(),
            "image_sizes": torch.tensor(data["image_sizes"]),
        }
    return data, ids, images


@pytest.fixture(scope="module", params=["eager", "sdpa"])
def reference_model(request, reference_checkpoint):
    return load_model(reference_checkpoint, dtype="float32", attn_implementation=request.param)


@pytest.mark.parametrize("name", CASES)
def test_reference_logits_and_greedy_tokens(reference_model, reference_dir, reference_cases, name):
    case = next(c for c in reference_cases if c["name"] == name)
    data, ids, images = _case_inputs(reference_dir, case)
    with torch.inference_mode():
        logits = reference_model(input_ids=ids, **images).logits[0]
        out = reference_model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, min_new_tokens=8, **images
        )
    # Tolerance from the fixture's README: float16-rounded pixel values move logits by up to ~5e-3.
    assert (logits[-1] - torch.tensor(data["last_logits"])).abs().max().item() < 1e-2
    assert out[0, ids.shape[1] :].tolist() == case["generated"]
    # evalkit's own decode loop (what runs use) gives the official implementation's tokens too.
    decoded = GreedyDecoder(reference_model).generate(input_ids=ids, **images, max_new_tokens=8, stop_token_ids=[])
    assert decoded.new_tokens[0].tolist() == case["generated"]


def test_reference_end_to_end_from_image_files(reference_model, reference_dir, reference_cases, reference_checkpoint):
    """Processor + model from the raw image files give the recorded greedy tokens."""
    case = next(c for c in reference_cases if c["name"] == "two_images_compare")
    processor = Phi3VProcessor.from_pretrained(reference_checkpoint, num_crops=case["num_crops"])
    inputs = processor(case["prompt"], [reference_dir / "images" / f for f in case["images"]])
    with torch.inference_mode():
        out = reference_model.generate(**inputs, max_new_tokens=8, min_new_tokens=8)
    assert out[0, inputs["input_ids"].shape[1] :].tolist() == case["generated"]


def test_batch_with_left_padding_matches_single_prompts(tiny_model, tiny_checkpoint, reference_dir):
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=4)
    images = reference_dir / "images"
    prompts = [
        build_prompt("Describe this image.", 1),
        build_prompt("What differs between these two?", 2),
        build_prompt("Hi", 0),
    ]
    image_lists = [[images / "astronaut.png"], [images / "coffee.png", images / "rocket_portrait.png"], []]
    singles = []
    for prompt, imgs in zip(prompts, image_lists, strict=True):
        x = processor(prompt, imgs or None)
        singles.append(
            tiny_model.generate(**x, max_new_tokens=10, min_new_tokens=10)[0, x["input_ids"].shape[1] :].tolist()
        )
    x = processor(prompts, image_lists)
    assert (x["attention_mask"][:, 0] == 0).any(), "the batch should need left padding"
    out = tiny_model.generate(**x, max_new_tokens=10, min_new_tokens=10)
    assert [row[x["input_ids"].shape[1] :].tolist() for row in out] == singles


def test_generation_stops_on_end_token_read_from_tokenizer(tiny_model, tiny_checkpoint):
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint)
    assert set(tiny_model.generation_config.eos_token_id) == set(processor.stop_token_ids)
    end = processor.tokenizer.convert_tokens_to_ids("<|end|>")

    def force_end_at_step_3(batch_id, input_ids):  # allow any token, but <|end|> only at the 4th step
        return [end] if input_ids.shape[-1] >= start + 3 else list(range(end)) + list(range(end + 1, 32064))

    x = processor(build_prompt("Name three colours.", 0))
    start = x["input_ids"].shape[1]
    out = tiny_model.generate(**x, max_new_tokens=20, prefix_allowed_tokens_fn=force_end_at_step_3)
    assert out.shape[1] == start + 4 and out[0, -1].item() == end


def test_phi35_and_full_size_configs_parse():
    assert count_parameters("full") == pytest.approx(4.15e9, rel=0.01)
    for family in ("phi3v", "phi35v"):
        spec = parse_config(checkpoint_config("full", family))
        assert spec.text.num_hidden_layers == 32 and spec.vision.num_hidden_layers == 24
        assert spec.text.rope_parameters["rope_type"] == "longrope"
        assert len(spec.text.rope_parameters["long_factor"]) == 48


def test_checkpoint_layout_matches_published(tiny_checkpoint, reference_checkpoint):
    ours = load_file(tiny_checkpoint / "model.safetensors")
    published = load_file(reference_checkpoint / "model.safetensors")
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in published.items()}
    assert all(v.dtype == torch.bfloat16 for v in ours.values())
    ours_cfg = json.loads((tiny_checkpoint / "config.json").read_text())
    assert ours_cfg["rope_scaling"]["type"] == "su" and ours_cfg["_attn_implementation"] == "flash_attention_2"


def test_make_checkpoint_is_deterministic(tmp_path, tiny_checkpoint):
    again = make_checkpoint(tmp_path / "again", "tiny")
    assert file_sha256(again / "model.safetensors") == file_sha256(tiny_checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError, match="not empty"):
        make_checkpoint(again, "tiny")


def test_loads_by_repo_id_and_revision_from_offline_cache(
    tmp_path, monkeypatch, reference_checkpoint, reference_dir, reference_cases
):
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = make_hub_cache(tmp_path, reference_checkpoint, "microsoft/Phi-3-vision-128k-instruct", commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))  # the env var is read at import
    for revision in (None, "main", commit):
        source = resolve_model("microsoft/Phi-3-vision-128k-instruct", revision, cache_dir=str(cache))
        assert source.commit == commit and source.repo_id == "microsoft/Phi-3-vision-128k-instruct"
    model = load_model("microsoft/Phi-3-vision-128k-instruct", "main", attn_implementation="eager")
    assert model.source.commit == commit
    # The weight hash comes from the blob name and equals a hash of the bytes.
    assert weights_fingerprint(model.source.path) == weights_fingerprint(reference_checkpoint)
    case = next(c for c in reference_cases if c["name"] == "text_only")
    _, ids, _ = _case_inputs(reference_dir, case)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, min_new_tokens=8)
    assert out[0, ids.shape[1] :].tolist() == case["generated"]
    with pytest.raises(CheckpointError, match="not in the Hub cache"):
        resolve_model("microsoft/Phi-3-vision-128k-instruct", "deadbeef", cache_dir=str(cache))


def test_missing_tensor_is_named(tmp_path, tiny_checkpoint):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    tensors = load_file(broken / "model.safetensors")
    del tensors["model.vision_embed_tokens.glb_GN"]
    tensors["model.extra.weight"] = torch.zeros(2)
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        CheckpointError,
        match=r"1 missing tensor\(s\): model.vision_embed_tokens.glb_GN; 1 unexpected tensor\(s\): model.extra.weight",
    ):
        load_model(broken)


def test_wrong_shape_and_missing_files_are_named(tmp_path, tiny_checkpoint):
    broken = tmp_path / "shape"
    shutil.copytree(tiny_checkpoint, broken)
    cfg = json.loads((broken / "config.json").read_text())
    cfg["intermediate_size"] = 96
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"mlp\.\w+\.weight has shape \(\d+, \d+\), the config implies"):
        load_model(broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(broken)
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        load_model(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("attn", "dtype", "device", "error", "match"),
    [
        ("flash", "float32", "cpu", ConfigError, "unknown attention implementation 'flash'"),
        ("flash_attention_2", "float16", "cpu", UnsupportedSettingError, "needs a CUDA device"),
    ],
)
def test_bad_settings_are_refused_before_loading(tiny_checkpoint, attn, dtype, device, error, match):
    with pytest.raises(error, match=match):
        load_model(tiny_checkpoint, attn_implementation=attn, dtype=dtype, device=device)


def test_unknown_dtype_and_flash_requirements():
    with pytest.raises(ConfigError, match="unknown dtype 'float64'"):
        load_model("unused", dtype="float64")
    cuda = torch.device("cuda")
    with pytest.raises(UnsupportedSettingError, match="float16 or bfloat16 only"):
        check_setting("flash_attention_2", torch.float32, cuda)
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        with pytest.raises(UnsupportedSettingError, match="flash-attn package"):
            check_setting("flash_attention_2", torch.bfloat16, cuda)


def test_image_positions_must_match_features(tiny_model, tiny_checkpoint, reference_dir):
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=4)
    x = processor(build_prompt("Describe.", 1), [reference_dir / "images" / "coffee.png"])
    wrong = Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=1).preprocess_images(
        [reference_dir / "images" / "coffee.png"]
    )
    with pytest.raises(InputError, match="image positions but the images give"):
        tiny_model(input_ids=x["input_ids"], pixel_values=wrong.pixel_values, image_sizes=wrong.image_sizes)
    with pytest.raises(InputError, match="no pixel_values"):
        tiny_model(input_ids=x["input_ids"])


def test_a_generated_image_token_is_embedded_as_a_token(tiny_model):
    """Decode steps carry generated tokens: `<|image|>` there is a token (as in the published model), not a position
    waiting for image features, and the step does not fail."""
    step = torch.tensor([[tiny_model.image_token_id], [5]])
    expected = tiny_model.model.embed_tokens(step)
    assert torch.equal(tiny_model.embed_inputs(step), expected)
    with pytest.raises(InputError, match="no pixel_values"):  # in a prompt it is an image position without an image
        tiny_model.embed_inputs(torch.tensor([[1, tiny_model.image_token_id]]))


def test_model_class_is_native_phi3():
    from transformers import Phi3ForCausalLM

    assert issubclass(Phi3VForCausalLM, Phi3ForCausalLM)
