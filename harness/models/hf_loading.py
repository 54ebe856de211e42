"""Loading a transformers checkpoint for the in-process backends (`hf:`, `rm:`, `dpo:`).

One place decides what a model name means (a folder, a hub id, a `.gguf` file), which device and
dtype it lands on, and what the user is told when it cannot be loaded. A `Checkpoint` is checked
when it is named and loaded when its weights are first needed: a bad name fails before the run
starts, and a rerun whose answers all come from the response cache never loads them.

transformers is imported where it is used, not here: its import (about 3 s on 2 cores, half of
a cached rerun) is paid only by a run that reads a config or loads a tokenizer or weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from harness.errors import UsageError
from harness.models.checkpoints import checkpoint_identity
from harness.models.gguf_files import gguf_load_error, split_gguf_name, supported_architectures
from harness.models.gguf_header import gguf_architecture

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class Checkpoint:
    """A checkpoint that has been checked, not loaded: the config (a folder's or hub id's) or the GGUF
    header has been read, in milliseconds, so a missing path, a damaged file or an unconvertible
    architecture is reported at once; the tokenizer and weights load on request."""

    def __init__(
        self,
        name: str,
        *,
        backend: str = "hf",
        model_class: Any = None,
        gguf_file: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        cache_dir: str | None = None,
    ) -> None:
        """`model_class`: what the weights load as (None: a causal LM, AutoModelForCausalLM)."""
        self.name = name
        self.backend = backend
        self.model_class = model_class
        self.location, self.gguf_file = split_gguf_name(name, gguf_file, backend)
        if self.gguf_file is not None and model_class is not None:
            raise UsageError(f"{backend}:{name}: a GGUF file holds a causal language model, without the "
                             "classification head this backend scores with; use the model's transformers checkpoint")
        self.revision = revision
        self.cache_dir = cache_dir
        self._options = {"revision": revision, "trust_remote_code": trust_remote_code, "cache_dir": cache_dir,
                         **({"gguf_file": self.gguf_file} if self.gguf_file is not None else {})}
        self.config = self._check()

    def identity(self) -> dict:
        """What the weights are, from the files (see `checkpoint_identity`): for fingerprints."""
        return checkpoint_identity(self.location, self.revision, self.cache_dir, self.gguf_file)

    def load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.location, **self._options)
        except Exception as error:  # noqa: BLE001: every loading failure is reported as the user's input
            raise self._load_error(error) from error

    def load_model(self, device: torch.device, *, dtype: torch.dtype | str = "auto",
                   attn_implementation: str | None = None) -> Any:
        """The weights on `device`, frozen: evaluation never needs gradients, and frozen weights keep
        any forward pass from recording autograd state (activations held alive until freed)."""
        from transformers import AutoModelForCausalLM

        from harness.models.hf_decoding import CPU_ATTENTION

        model_class = self.model_class or AutoModelForCausalLM
        try:
            model = model_class.from_pretrained(self.location, dtype=dtype,
                                                     attn_implementation=attn_implementation, **self._options)
        except Exception as error:  # noqa: BLE001: as in load_tokenizer
            raise self._load_error(error) from error
        model = model.to(device).eval().requires_grad_(False)
        plain_sdpa = attn_implementation is None and model.config._attn_implementation == "sdpa"
        if device.type == "cpu" and plain_sdpa:
            model.set_attn_implementation(CPU_ATTENTION)
        return model

    def _check(self) -> Any:
        """The config of a folder or hub checkpoint (None for a GGUF file, whose config transformers
        builds by reading the whole vocabulary: its header is checked instead)."""
        try:
            if self.gguf_file is None:
                from transformers import AutoConfig

                return AutoConfig.from_pretrained(self.location, **self._options)
            # a folder's file, or a hub repository's (fetched into the hub cache, as loading would)
            path = Path(self.location) / self.gguf_file
            if not path.is_file():
                from transformers.utils.hub import cached_file

                path = Path(cached_file(self.location, self.gguf_file, revision=self.revision, cache_dir=self.cache_dir))
        except Exception as error:  # noqa: BLE001: as in load_tokenizer
            raise self._load_error(error) from error
        check_gguf(path, self.backend)
        return None

    def _load_error(self, error: Exception) -> Exception:
        if isinstance(error, MemoryError):
            return error
        if self.gguf_file is not None and (Path(self.location) / self.gguf_file).is_file():
            return gguf_load_error(Path(self.location) / self.gguf_file, error, self.backend)
        if not isinstance(error, (OSError, ValueError)):
            return error
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        return UsageError(
            f"cannot load {self.backend} model {self.name!r}: {reason}. Pass an existing checkpoint directory or "
            ".gguf file, or a hub id already in the local cache (with HF_HUB_OFFLINE=1 nothing is downloaded); "
            "check revision= and trust_remote_code="
        )


def check_gguf(path: Path, backend: str) -> None:
    """Refuse now a GGUF file that transformers would refuse once the run has started; the message
    is the one a failed load gets (`gguf_load_error`: what is wrong and the fix)."""
    try:
        architecture = gguf_architecture(path)
    except (ValueError, OSError, ImportError) as error:
        raise gguf_load_error(path, error, backend) from error
    if architecture not in supported_architectures():
        raise gguf_load_error(path, ValueError(f"unsupported architecture {architecture!r}"), backend)


def resolve_device(device: str) -> torch.device:
    """`auto` is the GPU when there is one. A GPU that is not there is refused here, as weights
    load only when the run needs them."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise UsageError(f"bad device={device!r}: use auto, cpu, cuda or cuda:N") from error
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if resolved.type == "cuda" and (resolved.index or 0) >= visible:
        raise UsageError(f"device={device!r}, but {visible} GPU(s) are visible: use auto or cpu, or cuda:N with "
                         "N below that count (check CUDA_VISIBLE_DEVICES)")
    return resolved


def resolve_dtype(dtype: str) -> torch.dtype | str:
    """`auto` keeps the checkpoint's own dtype (float32 for a dequantized GGUF file)."""
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise UsageError(f"bad dtype={dtype!r}: use auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]
