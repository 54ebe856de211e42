"""Loading a transformers checkpoint for the in-process backends (`hf:`, `rm:`, `dpo:`).

One place decides what a model name means (a folder, a hub id, a `.gguf` file), which device and
dtype it lands on, and what the user is told when it cannot be loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.errors import UsageError
from harness.models.gguf_files import gguf_load_error, split_gguf_name
from harness.models.hf_decoding import CPU_ATTENTION

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_pretrained(
    name: str,
    device: torch.device,
    *,
    backend: str = "hf",
    model_class: Any = AutoModelForCausalLM,
    gguf_file: str | None = None,
    dtype: torch.dtype | str = "auto",
    attn_implementation: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    cache_dir: str | None = None,
) -> tuple[Any, Any]:
    """Tokenizer and model (a causal LM unless `model_class` says otherwise); anything that
    cannot be loaded is the user's to fix, so it is a UsageError naming the cause."""
    location, gguf_file = split_gguf_name(name, gguf_file, backend)
    if gguf_file is not None and model_class is not AutoModelForCausalLM:
        raise UsageError(f"{backend}:{name}: a GGUF file holds a causal language model, without the "
                         "classification head this backend scores with; use the model's transformers checkpoint")
    common = {"revision": revision, "trust_remote_code": trust_remote_code, "cache_dir": cache_dir,
              **({"gguf_file": gguf_file} if gguf_file is not None else {})}
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **common)
        model = model_class.from_pretrained(location, dtype=dtype, attn_implementation=attn_implementation, **common)
    except Exception as error:  # noqa: BLE001: every loading failure is reported as the user's input
        raise _load_error(name, location, gguf_file, error, backend) from error
    # Evaluation never needs gradients; frozen weights keep any forward pass from recording
    # autograd state (activations held alive until the outputs are freed).
    model = model.to(device).eval().requires_grad_(False)
    plain_sdpa = attn_implementation is None and model.config._attn_implementation == "sdpa"
    if device.type == "cpu" and plain_sdpa:
        model.set_attn_implementation(CPU_ATTENTION)
    return tokenizer, model


def _load_error(name: str, location: str, gguf_file: str | None, error: Exception, backend: str) -> Exception:
    if isinstance(error, MemoryError):
        return error
    if gguf_file is not None and (Path(location) / gguf_file).is_file():
        return gguf_load_error(Path(location) / gguf_file, error, backend)
    if not isinstance(error, (OSError, ValueError)):
        return error
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    return UsageError(
        f"cannot load {backend} model {name!r}: {reason}. Pass an existing checkpoint directory or .gguf file, "
        "or a hub id already in the local cache (with HF_HUB_OFFLINE=1 nothing is downloaded); "
        "check revision= and trust_remote_code="
    )


def resolve_device(device: str) -> torch.device:
    """`auto` is the GPU when there is one."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise UsageError(f"bad device={device!r}: use auto, cpu, cuda or cuda:N") from error


def resolve_dtype(dtype: str) -> torch.dtype | str:
    """`auto` keeps the checkpoint's own dtype (float32 for a dequantized GGUF file)."""
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise UsageError(f"bad dtype={dtype!r}: use auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]
