"""WebDataset shards: plain tar files, one image and one JSON per sample, that ``datasets`` and ``webdataset`` read.

A sample is two consecutive tar members sharing a key: ``<observation_uuid>.jpg`` and ``<observation_uuid>.json``
(the key has no dot: WebDataset readers split a member name at the first dot of its base name). Members carry
fixed owner and mtime so the same records give byte-identical shards, and rsync-style syncs skip them.

``write_hf_readme`` puts a Hugging Face dataset card header next to the shards that declares every feature: the
library then never has to guess types from the first few samples (a licence that is NULL in the first five
samples would otherwise be typed ``null`` and fail on the sixth).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gmgbd_assets.core.atomic_files import write_atomically
from gmgbd_assets.core.tables import Column, array_size

# How a declared SQL type appears in the sample JSON and, so, in the Hugging Face features.
_HF_DTYPES = {
    "BIGINT": "int64",
    "INTEGER": "int32",
    "DOUBLE": "float64",
    "FLOAT": "float32",
    "VARCHAR": "string",
    "BOOLEAN": "bool",
    "DATE": "string",
    "TIMESTAMP": "string",
}


@dataclass(frozen=True)
class Sample:
    key: str
    image: bytes
    image_ext: str
    metadata: dict
    # Further members by extension (the Sentinel-2 chip, ``s2.tif``), written between the image and the JSON.
    extra: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Shard:
    path: Path
    samples: int
    bytes: int


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(payload))


def write_shards(
    samples: Iterable[Sample], directory: Path, prefix: str, max_samples: int, max_bytes: int
) -> list[Shard]:
    """Write ``prefix-000000.tar``, ``prefix-000001.tar``, ... into ``directory``.

    A shard is closed when it holds ``max_samples`` samples or its payload reaches ``max_bytes`` (a sample is
    never split, so one oversized sample makes a shard of its own).
    """
    if max_samples < 1 or max_bytes < 1:
        raise ValueError("shard limits must be positive")
    directory.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    tar: tarfile.TarFile | None = None
    count = size = 0

    def close() -> None:
        nonlocal tar
        if tar is not None:
            tar.close()
            shards.append(Shard(Path(tar.name), count, size))
            tar = None

    for sample in samples:
        if "." in sample.key or "/" in sample.key:
            raise ValueError(f"WebDataset keys may not contain '.' or '/': {sample.key!r}")
        payload = json.dumps(sample.metadata, ensure_ascii=False, sort_keys=False).encode()
        if tar is not None and (count >= max_samples or size >= max_bytes):
            close()
        if tar is None:
            # Closed by close(): a shard stays open across loop iterations.
            path = directory / f"{prefix}-{len(shards):06d}.tar"
            tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
            count = size = 0
        _member(tar, f"{sample.key}.{sample.image_ext}", sample.image)
        for ext, data in sample.extra.items():
            _member(tar, f"{sample.key}.{ext}", data)
        _member(tar, f"{sample.key}.json", payload)
        count += 1
        size += len(sample.image) + len(payload) + sum(len(d) for d in sample.extra.values())
    close()
    return shards


def _hf_feature(column: Column) -> dict[str, object]:
    """One JSON field's ``datasets`` feature; a fixed-size list (the embedding) is a ``List`` of its length."""
    size = array_size(column.sql_type)
    if size is not None:
        return {"name": column.name, "list": _HF_DTYPES[column.sql_type.split("[")[0].upper()], "length": size}
    return {"name": column.name, "dtype": _HF_DTYPES[column.sql_type.split("(")[0].upper()]}


def hf_features(columns: Sequence[Column], image_ext: str = "jpg", binary: Sequence[str] = ()) -> list[dict]:
    """The ``dataset_info.features`` of a dataset card: the image, members kept as bytes (``binary``: a GeoTIFF
    chip the image decoder cannot read), the JSON struct, and the two keys."""
    struct = [_hf_feature(c) for c in columns]
    return [
        {"name": image_ext, "dtype": "image"},
        *({"name": ext, "dtype": "binary"} for ext in binary),
        {"name": "json", "struct": struct},
        {"name": "__key__", "dtype": "string"},
        {"name": "__url__", "dtype": "string"},
    ]


def write_hf_readme(
    directory: Path, columns: Sequence[Column], shard_glob: str, body: str, binary: Sequence[str] = ()
) -> Path:
    """A ``README.md`` whose YAML header makes ``datasets.load_dataset(str(directory))`` read the shards."""
    header = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": shard_glob}]}],
        "dataset_info": {"config_name": "default", "features": hf_features(columns, binary=binary)},
    }
    path = directory / "README.md"
    directory.mkdir(parents=True, exist_ok=True)
    text = f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n{body.strip()}\n"
    write_atomically(path, text)
    return path
