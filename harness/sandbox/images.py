"""Docker images for the sandbox: each suite's tree imported as a base, one small layer per language.

The Docker backend runs the very trees the local backend mounts (see rootfs.py), so both run
identical toolchain versions: `docker import` turns a tree into `harness-rootfs:<tree id>`, and
each language's `Dockerfile` adds its built overlay at /opt/harness/<lang> on top, tagged with the
toolchain id that also keys the execution cache. Tags are content ids, so a built image is reused
until its language folder or its suite's package list changes. No registry is involved: nothing
is ever pulled.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from harness.errors import UsageError
from harness.sandbox.languages import LanguageSpec, languages as load_languages
from harness.sandbox.rootfs import build_all, rootfs_path, sandbox_root, toolchain_id

if TYPE_CHECKING:
    from docker import DockerClient

ROOTFS_REPOSITORY = "harness-rootfs"
IMAGE_PREFIX = "harness-sandbox-"
BUILD_TIMEOUT_S = 3600  # an import or a build of a multi-GB tree with the vfs driver copies it whole
CHUNK_BYTES = 1 << 20


def rootfs_image(spec: LanguageSpec, specs: Sequence[LanguageSpec]) -> str:
    return f"{ROOTFS_REPOSITORY}:{rootfs_path(spec, specs).name}"


def language_image(spec: LanguageSpec, specs: Sequence[LanguageSpec]) -> str:
    return f"{IMAGE_PREFIX}{spec.key}:{toolchain_id(spec, specs)}"


def connect(timeout_s: float = 120, pool_size: int = 10) -> "DockerClient":
    """A client for the engine in the environment (DOCKER_HOST or the local socket), checked with a ping.

    `pool_size` connections: a sandbox's workers each hold one streaming connection and make calls.
    """
    try:
        import docker
    except ImportError as error:
        raise UsageError("the docker backend needs the Docker SDK: pip install 'harness[docker]'") from error
    try:
        client = docker.from_env(timeout=int(timeout_s), max_pool_size=pool_size)
        client.ping()
    except docker.errors.DockerException as error:
        raise UsageError(f"no Docker engine reachable ({error}); start one (as root: `dockerd &`, "
                         "after `apt-get install docker.io`) or set DOCKER_HOST") from error
    return client


def image_exists(client: "DockerClient", tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _tar_chunks(tree: Path) -> Iterator[bytes]:
    """The tree as a tar stream; GNU tar keeps owners, modes, hard links and device nodes exactly."""
    command = ["tar", "--numeric-owner", "--exclude=./.complete", "-C", str(tree.resolve()), "-cf", "-", "."]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        stdout = process.stdout
        yield from iter(lambda: stdout.read(CHUNK_BYTES), b"")  # closed early: tar ends on the broken pipe
        error = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise UsageError(f"tar of {tree} failed: {error.strip()[-2000:]}")


def _check_stream(items: Iterable[Any], what: str) -> None:
    """Docker reports build and import failures inside the JSON stream, not as an HTTP error."""
    for item in items:
        if isinstance(item, dict) and item.get("error"):
            raise UsageError(f"{what} failed: {item['error']}")


def _json_lines(text: str) -> Iterator[Any]:
    for line in text.splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


@contextmanager
def _image_lock() -> Iterator[None]:
    """One builder at a time (test workers, parallel CLI calls): no tree is imported twice."""
    sandbox_root().mkdir(parents=True, exist_ok=True)
    with open(sandbox_root() / ".docker-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def import_rootfs(client: "DockerClient", tree: Path, tag: str, log: Callable[[str], None]) -> None:
    if image_exists(client, tag):
        return
    log(f"importing {tree.resolve()} as {tag} (a tar stream of the whole tree; minutes for a large suite)")
    repository, name = tag.split(":")
    result = client.api.import_image_from_stream(_tar_chunks(tree), repository=repository, tag=name)
    _check_stream(_json_lines(result), f"docker import of {tree}")
    if not image_exists(client, tag):
        raise UsageError(f"docker import of {tree} did not produce {tag}: {str(result)[-2000:]}")


def build_language_image(client: "DockerClient", spec: LanguageSpec, overlay: Path, base: str, tag: str,
                         log: Callable[[str], None]) -> None:
    if image_exists(client, tag):
        return
    if not (overlay / "Dockerfile").exists():
        raise UsageError(f"sandboxes/{spec.key}/Dockerfile is missing; every language folder needs one "
                         f"(ARG BASE / FROM ${{BASE}} / COPY . /opt/harness/{spec.key})")
    log(f"building {tag} from {overlay} on {base}")
    stream = client.api.build(path=str(overlay), tag=tag, buildargs={"BASE": base}, pull=False, rm=True,
                              forcerm=True, decode=True, labels={"harness.language": spec.key})
    _check_stream(stream, f"docker build of {tag}")
    if not image_exists(client, tag):
        raise UsageError(f"docker build of {tag} did not produce the image")


def build_images(languages: Sequence[str] | None = None, log: Callable[[str], None] = print,
                 sandboxes_dir: Path | None = None) -> dict[str, str]:
    """Build the trees, overlays and images of `languages` (default all); returns image tags by language."""
    specs = list(load_languages(sandboxes_dir).values())
    known = {spec.key for spec in specs}
    unknown = sorted(set(languages or ()) - known)
    if unknown:
        raise UsageError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    overlays = build_all(specs, log, languages)
    client = connect(BUILD_TIMEOUT_S)
    try:
        with _image_lock():
            tags = {}
            for spec in (s for s in specs if s.key in overlays):
                base = rootfs_image(spec, specs)
                import_rootfs(client, rootfs_path(spec, specs), base, log)
                tags[spec.key] = language_image(spec, specs)
                build_language_image(client, spec, overlays[spec.key], base, tags[spec.key], log)
            return tags
    finally:
        client.close()
