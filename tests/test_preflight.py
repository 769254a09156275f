"""Which settings run, which a default left out, which are refused (exit 3): the rule of evalkit.cli.preflight, on three
simulated machines; and the checks made before any model is loaded."""

from __future__ import annotations

import itertools

import pytest

from evalkit.cli.preflight import Plan, plan_settings, refusal
from evalkit.errors import ConfigError


def machine(cuda: bool, flash: bool):
    """The reasons a machine gives, shaped like evalkit.phi3v.loading.check_setting's."""

    def reason(s: dict) -> str | None:
        device = s["device"]
        if device.startswith("cuda") and not cuda:
            return "CUDA is not available"
        on_cuda = device.startswith("cuda") or (device == "auto" and cuda)
        if s["attn"] == "flash_attention_2":
            if not on_cuda:
                return "flash_attention_2 needs a CUDA device"
            if s["dtype"] == "float32":
                return "flash_attention_2 runs in float16 or bfloat16 only"
            if not flash:
                return "flash_attention_2 needs the flash-attn package"
        return None

    return reason


CPU, GPU, GPU_NO_FLASH = machine(False, False), machine(True, True), machine(True, False)
DEFAULT_ATTN = ["eager", "sdpa", "flash_attention_2"]


def plan(dtypes, attns, device="auto", explicit=(), on=CPU) -> Plan:
    settings = [{"dtype": d, "attn": a, "device": device} for d, a in itertools.product(dtypes, attns)]
    return plan_settings(settings, set(explicit), on)


def names(pairs) -> list[str]:
    return [f"{s['dtype']}-{s['attn']}" for s, _ in pairs]


def test_defaults_leave_out_what_this_machine_cannot_run():
    p = plan(["float32"], DEFAULT_ATTN)
    assert names((s, None) for s in p.run) == ["float32-eager", "float32-sdpa"]
    assert names(p.left_out) == ["float32-flash_attention_2"] and not p.refused
    assert refusal(p, False, "--allow-skip") is None
    # Naming the device (not the attention) still lets the default attention list shrink to what runs.
    p = plan(["float32"], DEFAULT_ATTN, device="cpu", explicit={"device"})
    assert names(p.left_out) == ["float32-flash_attention_2"] and not p.refused
    # On a GPU the default float32 cannot use flash_attention_2 either; it is left out, not refused.
    assert names(plan(["float32"], DEFAULT_ATTN, on=GPU).left_out) == ["float32-flash_attention_2"]
    assert names(plan(["bfloat16"], DEFAULT_ATTN, explicit={"dtype"}, on=GPU_NO_FLASH).left_out) == [
        "bfloat16-flash_attention_2"
    ]


def test_a_named_setting_that_cannot_run_is_refused():
    p = plan(["float32"], ["flash_attention_2"], explicit={"attn"})
    assert names(p.refused) == ["float32-flash_attention_2"] and not p.run
    # Named alongside one that runs: the named value would run nowhere, so it is still refused.
    p = plan(["float32"], ["eager", "flash_attention_2"], explicit={"attn"})
    assert names(p.refused) == ["float32-flash_attention_2"]
    line = refusal(p, False, "--allow-skip")
    assert line.startswith("float32-flash_attention_2 cannot run here: flash_attention_2 needs a CUDA device")
    assert line.endswith("--allow-skip records it as skipped and goes on")
    assert refusal(p, True, "--allow-skip") is None  # allowed: recorded as skipped, eager still runs
    # A product of named values where one combination cannot run (float32 with flash on a GPU).
    p = plan(["float32", "bfloat16"], ["eager", "flash_attention_2"], explicit={"dtype", "attn"}, on=GPU)
    assert names(p.refused) == ["float32-flash_attention_2"] and len(p.run) == 3
    p = plan(["float32"], ["eager", "sdpa"], device="cuda", explicit={"device"})
    assert names(p.refused) == ["float32-eager", "float32-sdpa"]
    assert "(and 1 more)" in refusal(p, False, "allow_skip=true")


def test_nothing_to_run_is_refused_even_with_allow_skip():
    p = plan(["float32"], ["eager"], device="cuda", explicit={"device"})
    assert refusal(p, True, "--allow-skip") == (
        "none of the requested settings can run here (float32-eager on cuda: CUDA is not available)"
    )


def test_unknown_keys_are_refused_with_or_without_plus(tmp_path):
    from evalkit.cli.preflight import compose_all, expand

    for argv, key in [(["+runtime.dtpye=bfloat16"], "runtime.dtpye"), (["++model.nmae=x"], "model.nmae")]:
        jobs, _ = expand(argv)
        with pytest.raises(ConfigError, match=f"unknown key '{key}'"):
            compose_all(jobs)


def test_every_sweep_value_is_composed_and_model_path_names_the_model(tmp_path):
    from evalkit.cli.preflight import compose_all, expand

    ckpt = tmp_path / "my-finetune"
    ckpt.mkdir()
    jobs, multirun = expand(["-m", "runtime.dtype=float32,bfloat16", "runtime.batch_size=1,2", f"model.path={ckpt}"])
    combos = compose_all(jobs)
    assert multirun and len(combos) == 4
    assert {c.config.model.name for c in combos} == {"my-finetune"}
    assert {(c.config.runtime.dtype, c.config.runtime.batch_size) for c in combos} == {
        ("float32", 1), ("float32", 2), ("bfloat16", 1), ("bfloat16", 2)
    }  # fmt: skip
    # A bad value late in a sweep is found before any job runs.
    jobs, _ = expand(["-m", "runtime.attn=eager,sdpa,flash"])
    with pytest.raises(ConfigError, match="runtime.attn='flash'"):
        compose_all(jobs)
    named = compose_all(expand([f"model.path={ckpt}", "model.name=ft"])[0])
    assert named[0].config.model.name == "ft"


def test_a_suite_option_unquoted_for_hydra_is_one_line_with_the_form_that_works(tmp_path):
    # Before: "no viable alternative at input '[tsv:...:schema='" (Hydra's parser), with no way forward.
    from evalkit.cli.preflight import preflight
    from evalkit.errors import SuiteError

    tsv = tmp_path / "bench.tsv"
    tsv.write_text("index\tquestion\tanswer\timage\n", encoding="utf-8")
    given = f"suites=[tsv:{tsv}:schema=ocrbench,ocr]"
    with pytest.raises(ConfigError) as info:
        preflight([given, "limit=1"], say=lambda line: None)
    working = f'suites=["tsv:{tsv}:schema=ocrbench","ocr"]'
    assert str(info.value) == (
        f"{given}: a suite spec with an option (:key=value) must be quoted inside the list, as Hydra reads it; "
        f"in the shell write: '{working}'"
    )
    # The form it shows gets past the parser: what is left is this file's own problem (no rows).
    with pytest.raises(SuiteError, match="schema=ocrbench: the file has no rows below its header"):
        preflight([working, "limit=1"], say=lambda line: None)


def test_benchmark_suites_are_quoted_for_hydra():
    from evalkit.cli.preflight import quote_suite_specs

    assert quote_suite_specs(["ocr", "tsv:/d/OCRBench.tsv:schema=ocrbench"]) == (
        'suites=["ocr","tsv:/d/OCRBench.tsv:schema=ocrbench"]'
    )
