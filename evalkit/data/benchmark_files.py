"""Reading a standard benchmark's rows: `hf:` specs through Hugging Face `datasets` (never online) and `tsv:`
specs in VLMEvalKit's layout. `evalkit.data.benchmarks` turns the rows into a suite.

Specs (in `suites=[...]`; options after the location as `key=value`, and then the spec quoted for Hydra)::

    hf:PATH_OR_NAME:SPLIT[:schema=NAME][:config=NAME][:name=SUITE]
    tsv:FILE[:schema=NAME][:name=SUITE]

`hf:` reads, and never downloads (whatever HF_HUB_OFFLINE / HF_DATASETS_OFFLINE say, `datasets` is held offline):
    a directory written by `save_to_disk`; a directory of data files as on the Hub, e.g. from
    `hf download REPO --repo-type dataset --local-dir DIR` (parquet / arrow shards; `config=` picks
    a subset of a multi-config repo); a single .parquet or .arrow file; or a repo id found in the Hugging Face hub
    cache (HF_HUB_CACHE) or in the `datasets` cache (HF_DATASETS_CACHE).
`tsv:` reads VLMEvalKit's layout: columns index, image (base64; or, when 64 characters or fewer, the index of the
    row whose image it shares; or a Python list of base64 strings), question, answer (a value or a list literal),
    and per benchmark category, options A, B, C..., hint.
"""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.data.benchmark_schemas import IMAGE_COLUMNS
from evalkit.errors import SuiteError, one_line

_OPTIONS = {"hf": ("schema", "config", "name"), "tsv": ("schema", "name")}
_REPO_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
_REF_MAX = 64  # VLMEvalKit: an image cell this short is the index of the row whose image it shares


@dataclass(frozen=True)
class ExternalSpec:
    kind: str  # "hf" | "tsv"
    location: str
    split: str | None
    options: dict[str, str]
    text: str  # as the user wrote it, for messages


def parse_spec(text: str) -> ExternalSpec:
    kind, _, rest = text.partition(":")
    parts = rest.split(":")
    options: dict[str, str] = {}
    while parts and "=" in parts[-1]:
        key, _, value = parts.pop().partition("=")
        if key not in _OPTIONS[kind]:
            raise SuiteError(f"{text}: unknown option {key!r} (a {kind}: spec takes {', '.join(_OPTIONS[kind])})")
        if not value:
            raise SuiteError(f"{text}: option {key!r} is empty")
        options[key] = value
    split = None
    if kind == "hf":
        if len(parts) < 2 or not parts[-1] or not ":".join(parts[:-1]):
            raise SuiteError(f"{text}: expected hf:PATH_OR_NAME:SPLIT (e.g. hf:/data/docvqa:validation)")
        split = parts.pop()
    location = ":".join(parts)  # a Windows drive letter keeps its colon
    if not location:
        raise SuiteError(f"{text}: expected tsv:FILE")
    return ExternalSpec(kind, location, split, options, text)


@dataclass
class Source:
    columns: list[str]
    rows: Iterator[tuple[dict[str, Any], list[bytes | str]]]  # (columns without images, images: bytes or a ref)
    path: Path  # what the record shows as the suite's path
    base_name: str  # default suite name
    hint: str  # what schema detection may read from the name
    key: tuple  # changes when the source files do
    dtypes: dict[str, str] = field(default_factory=dict)  # column -> its stored type, where the format has one


def _stat_key(paths: list[Path]) -> tuple:
    out = []
    for p in sorted(paths):
        st = p.stat()
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise SuiteError("hf: suites need the `datasets` package (pip install datasets)") from None
    return datasets


@contextlib.contextmanager
def _offline(datasets: Any) -> Iterator[None]:
    """Hold `datasets` offline: it reads HF_HUB_OFFLINE / HF_DATASETS_OFFLINE once, when imported, and would
    otherwise ask the Hub about a repo id before it looks in its cache. evalkit never downloads a dataset."""
    saved = datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE = saved


def _hub_snapshot(name: str) -> Path | None:
    """The newest local snapshot of dataset repo `name` in the hub cache, or None. Never asks the Hub."""
    if not _REPO_ID.fullmatch(name):
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=name, repo_type="dataset", local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def _load_hf(datasets: Any, spec: ExternalSpec) -> tuple[Any, Path]:
    split, config = spec.split, spec.options.get("config")
    path = Path(spec.location).expanduser()
    if not path.exists():
        snapshot = _hub_snapshot(spec.location)
        if snapshot is not None:
            path = snapshot
    if path.is_file():
        builder = {".parquet": "parquet", ".arrow": "arrow"}.get(path.suffix)
        if builder is None:
            raise SuiteError(f"{spec.text}: a data file must be .parquet or .arrow (or name a dataset directory)")
        _refuse_empty(spec, [path])
        return datasets.load_dataset(builder, data_files={split: str(path)}, split=split), path.resolve()
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        if config:
            raise SuiteError(f"{spec.text}: {path} was written by save_to_disk and has no configs; drop config=")
        for state in (path / split / "state.json", path / "state.json"):
            if state.is_file() and json.loads(state.read_text(encoding="utf-8")).get("_data_files") == []:
                raise SuiteError(f"{spec.text}: split {split!r} is empty ({state.parent} holds no rows)")
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise SuiteError(f"{spec.text}: no split {split!r} in {path} (splits: {', '.join(loaded)})")
            return loaded[split], path.resolve()
        if loaded.split is not None and str(loaded.split) != split:
            raise SuiteError(f"{spec.text}: {path} holds split {str(loaded.split)!r}, not {split!r}")
        return loaded, path.resolve()
    if path.is_dir():
        _refuse_empty(spec, [f for f in sorted(path.rglob("*.parquet")) if split in f.name or split in f.parent.name])
        return datasets.load_dataset(str(path), config, split=split), path.resolve()
    import huggingface_hub.constants

    try:  # a repo id that `datasets` itself cached (prepared arrow files under HF_DATASETS_CACHE)
        ds = datasets.load_dataset(spec.location, config, split=split)
    except (ConnectionError, FileNotFoundError) as exc:
        raise SuiteError(
            f"{spec.text}: no such file or directory, and no dataset {spec.location!r} in the Hugging Face caches"
            f" ({huggingface_hub.constants.HF_HUB_CACHE}, {datasets.config.HF_DATASETS_CACHE}); evalkit never"
            " downloads: fetch it with"
            f" `hf download {shlex.quote(spec.location)} --repo-type dataset --local-dir DIR`, then use"
            f" hf:DIR:{split}"
        ) from exc
    files = [Path(f["filename"]) for f in ds.cache_files]
    return ds, (files[0].parent if files else Path(spec.location))


def _refuse_empty(spec: ExternalSpec, files: list[Path]) -> None:
    """An empty split, named as such: `datasets` fails on parquet files without rows with a message about batch
    sizes (and on an empty save_to_disk split with 'list index out of range')."""
    parquet = [f for f in files if f.suffix == ".parquet"]
    if not parquet:
        return
    import pyarrow.parquet as pq

    try:
        rows = sum(pq.read_metadata(f).num_rows for f in parquet)
    except (OSError, ValueError):  # not readable as parquet: `datasets` says why
        return
    if rows == 0:
        where = parquet[0] if len(parquet) == 1 else f"{len(parquet)} parquet files"
        raise SuiteError(f"{spec.text}: split {spec.split!r} is empty ({where} holds no rows)")


def hf_source(spec: ExternalSpec) -> Source:
    datasets = _import_datasets()
    with _offline(datasets):
        try:
            ds, path = _load_hf(datasets, spec)
        except SuiteError:
            raise
        except Exception as exc:  # noqa: BLE001 - the library's many errors about the user's data, as one line
            advice = (
                " (name one with :config=NAME)" if "config" in str(exc).lower() and "config" not in spec.options else ""
            )
            raise SuiteError(f"{spec.text}: cannot load split {spec.split!r}: {one_line(exc)}{advice}") from None
    columns = list(ds.column_names)
    for col, feature in list(ds.features.items()):
        # Image columns are read undecoded (raw bytes need no cast): evalkit hashes and validates the stored bytes.
        known = col in IMAGE_COLUMNS and getattr(feature, "dtype", None) != "binary"
        if known or _is_image(datasets, feature):
            ds = ds.cast_column(col, _undecoded(datasets, feature, spec))
    given = Path(spec.location.rstrip("/\\"))
    name = (given.stem if path.is_file() else given.name) or path.name
    parts = [name, spec.options.get("config"), spec.split]
    key = (getattr(ds, "_fingerprint", None), _stat_key([Path(f["filename"]) for f in ds.cache_files]))
    hint = " ".join(p for p in parts[:2] if p)
    root = _image_root(path, datasets)
    dtypes = {c: str(getattr(f, "dtype", type(f).__name__)) for c, f in ds.features.items()}
    return Source(columns, _hf_rows(ds, spec, root), path, "-".join(p for p in parts if p), hint, key, dtypes)


def _image_root(path: Path, datasets: Any) -> Path:
    """The directory an image given by path (not bytes) must lie in: the dataset's own directory, as a suite's
    images must lie in the suite's. A Hub-cache snapshot is its repo's cache folder (its files are links into the
    repo's blobs); a dataset `datasets` prepared in its cache, that cache."""
    import huggingface_hub.constants

    root = (path.parent if path.is_file() else path).resolve()
    hub = Path(huggingface_hub.constants.HF_HUB_CACHE).resolve()
    if root.is_relative_to(hub) and root != hub:
        return hub / root.relative_to(hub).parts[0]  # datasets--ORG--NAME
    cache = Path(datasets.config.HF_DATASETS_CACHE).resolve()
    return cache if root.is_relative_to(cache) else root


def _is_image(datasets: Any, feature: Any) -> bool:
    return isinstance(feature, datasets.Image) or isinstance(getattr(feature, "feature", None), datasets.Image)


def _undecoded(datasets: Any, feature: Any, spec: ExternalSpec) -> Any:
    """The image column's feature with decoding off: evalkit wants the stored bytes, to hash and validate."""
    if isinstance(feature, datasets.Image):
        return datasets.Image(decode=False)
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.Image):
        return datasets.List(datasets.Image(decode=False))
    raise SuiteError(f"{spec.text}: the image column holds {feature}, not images")


def _hf_rows(ds: Any, spec: ExternalSpec, root: Path) -> Iterator[tuple[dict[str, Any], list[bytes | str]]]:
    for number, row in enumerate(ds):
        images: list[bytes | str] = []
        for col in IMAGE_COLUMNS:
            value = row.pop(col, None)
            for item in value if isinstance(value, list) else [value] if value is not None else []:
                images.append(_hf_image_bytes(item, spec, number, root))
        yield row, images


def _hf_image_bytes(item: Any, spec: ExternalSpec, number: int, root: Path) -> bytes:
    if isinstance(item, bytes) and item:
        return item
    if isinstance(item, dict) and item.get("bytes"):
        return item["bytes"]
    if isinstance(item, dict) and isinstance(item.get("path"), str) and item["path"]:
        # A relative path is the dataset directory's; either way the file must lie inside it (no `..`, no
        # symlink out): a row must not make evalkit read, cache and embed in its reports any file it names.
        resolved = (root / item["path"]).resolve()
        if not resolved.is_relative_to(root):
            raise SuiteError(
                f"{spec.text}: row {number}: image path {item['path']!r} leads outside the dataset directory {root}"
                f" (to {resolved})"
            )
        if resolved.is_file():
            return resolved.read_bytes()
    raise SuiteError(f"{spec.text}: row {number}: an image has neither bytes nor a readable file ({item!r:.80})")


def tsv_source(spec: ExternalSpec) -> Source:
    import pandas as pd

    path = Path(spec.location).expanduser()
    if not path.is_file():
        raise SuiteError(f"{spec.text}: no such file")
    try:
        header = pd.read_csv(path, sep="\t", nrows=0)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SuiteError(f"{spec.text}: not a readable TSV: {one_line(exc)}") from None
    columns = [str(c) for c in header.columns]
    if "image" not in columns and "image_path" in columns:
        raise SuiteError(
            f"{spec.text}: images given as paths only (image_path); evalkit reads TSVs that carry base64 images in"
            " an `image` column"
        )
    return Source(columns, _tsv_rows(path, spec), path.resolve(), path.stem, path.stem, _stat_key([path.resolve()]))


def _tsv_rows(path: Path, spec: ExternalSpec) -> Iterator[tuple[dict[str, Any], list[bytes | str]]]:
    import pandas as pd

    # Every cell a string, nothing turned into NaN: an answer "NA" or "None" stays what it is; empty cells are "".
    reader = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False, chunksize=256)
    number = 0
    try:
        for chunk in reader:
            for record in chunk.to_dict("records"):
                cell = str(record.pop("image", "")).strip()
                yield record, _tsv_images(cell, spec, number)
                number += 1
    except SuiteError:
        raise
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SuiteError(f"{spec.text}: row {number}: not readable as TSV: {one_line(exc)}") from None


def _tsv_images(cell: str, spec: ExternalSpec, number: int) -> list[bytes | str]:
    if not cell:
        raise SuiteError(f"{spec.text}: row {number}: the image cell is empty")
    if cell.startswith("["):
        try:
            items = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise SuiteError(
                f"{spec.text}: row {number}: the image cell is neither base64 nor a list of base64 strings"
            )
    else:
        items = [cell]
    out: list[bytes | str] = []
    for item in items:
        if len(item) <= _REF_MAX:
            out.append(item)  # the index of the row that holds this image; resolved once every row is read
            continue
        try:
            out.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise SuiteError(f"{spec.text}: row {number}: the image cell is not valid base64") from None
    return out
