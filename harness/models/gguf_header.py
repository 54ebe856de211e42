"""A GGUF file checked in milliseconds: its architecture, and whether its tensors are all there.

A GGUF checkpoint is checked when it is named and loaded only when its weights are needed, so the
check must be cheap. The `gguf` package's reader (and transformers, which uses it) builds an object
for every vocabulary entry first: seconds for a 135M model, on every start. This walks the same
layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) with `struct`, skipping arrays
by their lengths, and reads only what a check needs.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # version 1 (32-bit counts) predates every file transformers can load
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


def gguf_architecture(path: Path) -> str:
    """The architecture `path`'s header names (llama, qwen2, ...), once the file is known to be whole:
    ValueError naming the problem when it is not GGUF, its header is cut short, or it ends before its
    last tensor does (a truncated download)."""
    from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT

    size = path.stat().st_size
    if size < 24:
        raise ValueError(f"{size} bytes is too short for a GGUF file")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        if buffer[:4] != MAGIC:
            raise ValueError(f"bad magic {bytes(buffer[:4])!r}, expected {MAGIC!r}")
        # llama.cpp writes little-endian files, and big-endian ones for big-endian hosts
        order = "<" if struct.unpack_from("<I", buffer, 4)[0] & 0xFFFF else ">"
        reader = _Reader(buffer, 4, order)
        try:
            version, tensor_count, field_count = reader.take("IQQ")
            if version not in VERSIONS:
                raise ValueError(f"GGUF version {version} is not supported (only {VERSIONS})")
            fields = dict(reader.field() for _ in range(field_count))
            tensors = [reader.tensor() for _ in range(tensor_count)]
        except struct.error as error:
            raise ValueError(f"the header is cut short at byte {reader.position:,} ({error})") from error
    alignment = int(fields.get("general.alignment", GGUF_DEFAULT_ALIGNMENT))
    data_start = -(-reader.position // alignment) * alignment
    data_end = data_start
    for offset, elements, kind in tensors:
        if kind not in GGML_QUANT_SIZES:
            raise ValueError(f"unknown tensor type {kind}")
        block, block_bytes = GGML_QUANT_SIZES[kind]
        data_end = max(data_end, data_start + offset + elements // block * block_bytes)
    if data_end > size:
        raise ValueError(f"its tensors end at byte {data_end:,} but the file has {size:,} bytes")
    return str(fields.get("general.architecture", "unknown"))


class _Reader:
    """A cursor over the file: scalar and string fields are decoded, arrays are skipped."""

    def __init__(self, buffer: mmap.mmap, position: int, order: str) -> None:
        self.buffer = buffer
        self.position = position
        self.order = order

    def take(self, formats: str) -> tuple[Any, ...]:
        values = struct.unpack_from(self.order + formats, self.buffer, self.position)
        self.position += struct.calcsize(self.order + formats)
        return values

    def string(self) -> str:
        (length,) = self.take("Q")
        end = self.position + length
        if end > len(self.buffer):
            raise struct.error(f"a {length:,}-byte string runs past the end of the file")
        text = bytes(self.buffer[self.position : end]).decode("utf-8", "replace")
        self.position = end
        return text

    def field(self) -> tuple[str, Any]:
        key = self.string()
        (kind,) = self.take("I")
        return key, self.value(kind)

    def value(self, kind: int) -> Any:
        if kind == STRING:
            return self.string()
        if kind in SCALAR_FORMATS:
            return self.take(SCALAR_FORMATS[kind])[0]
        if kind != ARRAY:
            raise ValueError(f"unknown value type {kind} at byte {self.position:,}")
        item, count = self.take("IQ")
        if item in SCALAR_FORMATS:
            self.position += count * struct.calcsize(self.order + SCALAR_FORMATS[item])
        elif item == STRING:  # the vocabulary: only the lengths are read
            for _ in range(count):
                self.position += 8 + struct.unpack_from(self.order + "Q", self.buffer, self.position)[0]
        else:
            for _ in range(count):
                self.value(item)
        return None

    def tensor(self) -> tuple[int, int, int]:
        """(offset in the data section, element count, ggml type) of one tensor."""
        self.string()
        (dimensions,) = self.take("I")
        elements = 1
        for extent in self.take("Q" * dimensions):
            elements *= extent
        kind, offset = self.take("IQ")
        return offset, elements, kind
