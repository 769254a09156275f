"""Greedy answers of each setting against the reference setting (float32 eager by default)."""

from __future__ import annotations

import pytest

from benchmarks.session import parse_setting
from evalkit.gates import agreement

pytestmark = pytest.mark.agreement


def test_agreement_with_reference_setting(bench, setting):
    reference = bench.options.reference_setting
    if setting == reference:
        pytest.skip(f"{setting} is the reference setting")
    ref = bench.evaluation(reference)  # first, so the reference model is loaded once and released
    run = bench.evaluation(setting)
    dtype = parse_setting(setting)[0]
    minimum = bench.options.agreement_minimum(dtype)
    result = agreement(ref.predictions, run.predictions, tokens=bench.options.agreement_tokens)
    bench.detail(
        metric=f"first {result.tokens} tokens agree",
        unit="fraction",
        candidate=result.first_n,
        n=result.n,
        tolerance=f">= {minimum:g} of the samples",
        message=f"{result.first_n:.1%} agree with {reference} (minimum {minimum:.0%})",
    )
    assert result.n > 0, f"{setting}: no sample answered in both {setting} and {reference}"
    assert result.ok(minimum), result.message(minimum, reference, setting)
