"""What a checkpoint is, for fingerprints: shared by the in-process backends (`hf:`, `vllm:`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack"}
SETTINGS_SUFFIXES = {".json", ".jinja", ".model", ".txt", ".py", ".tiktoken"}


def checkpoint_identity(
    name: str, revision: str | None, cache_dir: str | None = None, gguf_file: str | None = None
) -> dict:
    """What the weights are: a GGUF file's content digest, a digest of a local directory, or the
    hub commit they came from."""
    path = Path(name).expanduser()
    if gguf_file is None and path.suffix.lower() == ".gguf" and path.is_file():
        return {"gguf": file_digest(path)}
    if gguf_file is not None:
        local = path / gguf_file if path.is_dir() else _hub_file(name, gguf_file, cache_dir, revision)
        if local is not None and local.is_file():
            return {"gguf": file_digest(local)}
        return {"hub": name, "gguf_file": gguf_file, "revision": revision}
    if path.is_dir():
        return {"local": _directory_digest(path)}
    found = _hub_file(name, "config.json", cache_dir, revision)
    return {"hub": name, "commit": found.parent.name if found is not None else revision}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: one GGUF file is the whole model, so its content is its identity
    (the same file anywhere shares cached answers; a re-quantized one never does)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _hub_file(name: str, filename: str, cache_dir: str | None, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, filename, cache_dir=cache_dir, revision=revision)
    return Path(found) if isinstance(found, str) else None


def identity_digest(data: dict) -> str:
    """A stable hash of a fingerprint's ingredients."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _directory_digest(path: Path) -> str:
    """Settings files by content, weight files by name, size and mtime: hashing gigabytes of
    weights at every start would cost more than most evaluations."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or "/." in relative:
            continue
        if file.suffix in WEIGHT_SUFFIXES:
            stat = file.stat()
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        elif file.suffix in SETTINGS_SUFFIXES:
            digest.update(f"{relative}:{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()
