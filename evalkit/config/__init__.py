"""Where evalkit's files are, and the one Hydra composition of conf/ that the CLI, preflight and `pytest benchmarks/`
all use (so that a setting means the same thing whichever way it is run)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from evalkit.config.settings import register_configs

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"
CONFIG_NAME = "config"


def file_slug(text: object, default: str) -> str:
    """`text` as one safe file or directory name (run directories, baselines, benchmark suites): runs of other
    characters become "-", leading/trailing "-" and "." go; `default` when nothing is left."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or default


def compose(overrides: Sequence[str]):
    """conf/config.yaml with `overrides` applied, checked against the structured schema (evalkit.config.settings):
    an OmegaConf DictConfig. Hydra's global state is cleared before and after, so calls do not leak into each
    other or into a later `@hydra.main` app."""
    # Hydra is imported here, not at the top: `evalkit --help` and the report commands never compose a config.
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()
