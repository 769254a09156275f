"""Shared pytest fixtures: the Phi-3-vision conformance fixture (tiny checkpoint + reference outputs)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ENV = "EVALKIT_PHI3V_REFERENCE"


def find_reference_dir() -> tuple[Path | None, str]:
    """(directory, reason): $EVALKIT_PHI3V_REFERENCE if set, else ../shared/phi3v-reference next to the repo."""
    env = os.environ.get(REFERENCE_ENV)
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "phi3v-reference"
    source = f"${REFERENCE_ENV}" if env else "the default location"
    if not (candidate / "cases.json").is_file():
        return None, (
            f"Phi-3-vision reference fixture not found at {candidate} ({source}; no cases.json); "
            f"set {REFERENCE_ENV} to its directory to run conformance tests"
        )
    return candidate, ""


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The conformance fixture directory (cases.json, <case>.npz, images/, checkpoint/); skips if absent."""
    directory, reason = find_reference_dir()
    if directory is None:
        pytest.skip(reason)
    return directory


@pytest.fixture(scope="session")
def reference_cases(reference_dir: Path) -> list[dict[str, Any]]:
    """cases.json as a list of dicts (name, images, num_crops, prompt, n_tokens, image_tokens, generated)."""
    return json.loads((reference_dir / "cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def reference_checkpoint(reference_dir: Path) -> Path:
    """The tiny checkpoint in the published layout (config, weights, tokenizer, preprocessor config)."""
    return reference_dir / "checkpoint"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny random-weight checkpoint written by evalkit's own make-checkpoint (no fixture needed)."""
    from evalkit.phi3v.checkpoints import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", "tiny")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    from evalkit.phi3v import load_model

    return load_model(tiny_checkpoint, dtype="float32", attn_implementation="sdpa")


def make_hub_cache(tmp_path: Path, source: Path, repo_id: str, commit: str) -> Path:
    """The huggingface_hub cache layout: blobs named by content hash, snapshots/<commit>/ of symlinks, refs/."""
    from evalkit.phi3v.hub import file_sha256

    repo = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in source.iterdir():
        blob = repo / "blobs" / file_sha256(f)
        shutil.copyfile(f, blob)
        (snapshot / f.name).symlink_to(Path("../..") / "blobs" / blob.name)
    (snapshot / "modeling_phi3_v.py").write_text("raise RuntimeError('remote code must never be imported')\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return tmp_path / "hub"
