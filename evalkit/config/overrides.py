"""From Hydra's command line and composed config to a typed `EvalConfig`: override keys, unknown keys refused by
name, the model named after its directory, and Hydra's multi-line errors as one line."""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass

from evalkit.config.settings import EvalConfig, default_model_name
from evalkit.errors import ConfigError, one_line


def override_key(override: str) -> str:
    """'++runtime.dtype=x' -> 'runtime.dtype'."""
    return override.split("=", 1)[0].lstrip("+~")


def apply_model_name(cfg, keys: set[str]) -> None:
    """`model.path=DIR` without `model.name`: the model is named after the directory (or repo id), not the named
    config's name (`tiny`). `cfg` is the composed DictConfig; `keys` the override keys of this job."""
    if "model.path" in keys and "model.name" not in keys and cfg.model.path:
        cfg.model.name = default_model_name(str(cfg.model.path))


def unknown_keys(node, schema: type = EvalConfig, prefix: str = "") -> list[str]:
    """Keys of the composed config that the dataclass schema does not have (a `+key=value` adds them silently)."""
    from omegaconf import DictConfig

    hints = typing.get_type_hints(schema)
    names = {f.name for f in fields(schema)}
    out = []
    for key in node:
        path = f"{prefix}{key}"
        if key not in names:
            out.append(path)
            continue
        sub = node.get(key) if isinstance(node, DictConfig) else None
        if isinstance(sub, DictConfig) and is_dataclass(hints.get(key)):
            out += unknown_keys(sub, hints[key], f"{path}.")
    return out


def to_eval_config(cfg, keys: set[str]) -> EvalConfig:
    """The composed DictConfig as an EvalConfig: model name defaulted, unknown keys refused, values validated."""
    from omegaconf import OmegaConf

    apply_model_name(cfg, keys)
    unknown = unknown_keys(cfg)
    if unknown:
        schema = "RuntimeConfig" if unknown[0].startswith("runtime.") else "ModelConfig"
        where = schema if "." in unknown[0] else "EvalConfig"
        raise ConfigError(f"unknown key {unknown[0]!r}: not in {where} (a '+' cannot add keys to evalkit's config)")
    return OmegaConf.to_object(cfg)


def hydra_one_line(exc: BaseException) -> str:
    """Hydra's composition errors span several lines; the first line of the error and of its cause say it all."""
    text = str(exc)
    line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
    if "Available options" in text:  # an unknown config group option: list the choices on the same line
        listing = text.split("Available options", 1)[1].split("Config search path", 1)[0]
        options = [o.strip() for o in listing.splitlines()[1:] if o.startswith("\t")]
        line += f" (available: {', '.join(options)})"
    if exc.__cause__ is not None and str(exc.__cause__):
        line += f": {str(exc.__cause__).splitlines()[0]}"
    return one_line(line)
