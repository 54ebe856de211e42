"""GGUF checkpoints (llama.cpp's one-file format) for the transformers-based backends.

transformers reads a GGUF file and dequantizes it (`from_pretrained(folder, gguf_file=name)`), so
`hf:model.gguf` evaluates the very weights a llama.cpp server serves. This module adds what a user
needs around that: the file named as one path, and, when transformers cannot read a file, an error
that says why (not a GGUF file, truncated, an architecture transformers does not convert) and what
to do instead. The `gguf` package (llama.cpp's own reader) does the reading.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError

GGUF_SUFFIX = ".gguf"
GET_EXAMPLE = "harness models get smollm2-135m-instruct"


def split_gguf_name(name: str, gguf_file: str | None, backend: str) -> tuple[str, str | None]:
    """(folder or hub id, file name) for `from_pretrained`: `dir/model.gguf` is split in two,
    `dir` with `gguf_file=model.gguf` is kept; anything else is not a GGUF checkpoint."""
    if gguf_file is None and name.lower().endswith(GGUF_SUFFIX):
        path = Path(name).expanduser()
        if not path.is_file():
            raise UsageError(f"{backend}:{name}: no such GGUF file; check the path (the example model: "
                             f"`{GET_EXAMPLE}` prints where it lies)")
        return str(path.resolve().parent), path.name
    if gguf_file is not None:
        if Path(gguf_file).name != gguf_file or not gguf_file.lower().endswith(GGUF_SUFFIX):
            raise UsageError(f"{backend}:{name}: gguf_file={gguf_file!r} must be a .gguf file name inside "
                             f"{name}, or pass the whole path as {backend}:PATH.gguf")
        folder = Path(name).expanduser()
        if folder.is_dir() and not (folder / gguf_file).is_file():
            found = ", ".join(sorted(p.name for p in folder.glob(f"*{GGUF_SUFFIX}"))) or "none"
            raise UsageError(f"{backend}:{name}: no file {gguf_file} in that folder (GGUF files there: {found})")
    return name, gguf_file


def gguf_load_error(path: Path, error: Exception, backend: str) -> UsageError:
    """What is wrong with a GGUF file that transformers failed to load, and the fix."""
    where = f"{backend}:{path}"
    try:
        from gguf import GGUFReader
    except ImportError:
        return UsageError(f"{where}: reading GGUF files needs the gguf package: pip install gguf")
    try:
        reader = GGUFReader(path)
    except ValueError as reason:
        if "magic" in str(reason).lower():
            return UsageError(f"{where} is not a GGUF file ({reason}); pass a .gguf file written by llama.cpp, "
                              "or a transformers checkpoint folder")
        return _damaged(where, path, reason)
    except (IndexError, OSError, EOFError) as reason:
        return _damaged(where, path, reason)
    architecture = read_architecture(reader)
    supported = supported_architectures()
    if architecture not in supported:
        return UsageError(
            f"{where}: transformers cannot load GGUF architecture {architecture!r} (it converts "
            f"{', '.join(sorted(supported))}); serve the file with llama.cpp and evaluate it through "
            "openai:NAME,base_url=..., or use the model's transformers checkpoint")
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    return UsageError(f"{where}: transformers could not load this {architecture} GGUF file: {reason}")


def read_architecture(reader: object) -> str:
    """The file's `general.architecture` field (llama, qwen2, ...)."""
    field = reader.fields.get("general.architecture")  # type: ignore[attr-defined]
    if field is None:
        return "unknown"
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


def supported_architectures() -> set[str]:
    """The GGUF architectures this transformers release converts: the keys of the config mapping,
    which is what `modeling_gguf_pytorch_utils.GGUF_SUPPORTED_ARCHITECTURES` lists, read from the
    module that defines it (importing the other loads torch and the modeling code: seconds, on
    every start of a run that names a GGUF file)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return set(GGUF_CONFIG_MAPPING)


def _damaged(where: str, path: Path, reason: BaseException) -> UsageError:
    size = path.stat().st_size if path.is_file() else 0
    return UsageError(f"{where} is truncated or damaged ({size:,} bytes; the gguf reader says: "
                      f"{str(reason).splitlines()[0] if str(reason) else type(reason).__name__}); "
                      f"download it again (the example model: `{GET_EXAMPLE} --force`)")
