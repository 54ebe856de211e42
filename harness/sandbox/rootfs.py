"""Root filesystems: one Debian tree per suite, plus one small overlay per language.

`mmdebstrap --include=<packages>` builds each suite's tree once; bubblewrap mounts it read-only
as `/` and `docker import` turns the same tree into the Docker base image, so both backends run
identical toolchain versions. A language's `setup` commands (a precompiled header, a warm batch
compiler, a shim) run inside that tree at build time and write only into the language's overlay,
mounted at /opt/harness/<lang>: changing one language rebuilds its overlay, not the suite.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from harness.errors import UsageError
from harness.sandbox.languages import LanguageSpec

SANDBOX_DIR_ENV = "HARNESS_SANDBOX_DIR"
OVERLAY_MOUNT = "/opt/harness"
WORK_MOUNT = "/box"


def sandbox_root() -> Path:
    configured = os.environ.get(SANDBOX_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "harness" / "sandboxes"


def suite_packages(specs: Sequence[LanguageSpec], suite: str) -> tuple[str, ...]:
    return tuple(sorted({package for spec in specs if spec.suite == suite for package in spec.packages}))


def rootfs_id(suite: str, packages: Sequence[str]) -> str:
    digest = hashlib.sha256(" ".join([suite, *sorted(packages)]).encode()).hexdigest()
    return f"{suite}-{digest[:12]}"


def rootfs_path(spec: LanguageSpec, specs: Sequence[LanguageSpec]) -> Path:
    return sandbox_root() / "rootfs" / rootfs_id(spec.suite, suite_packages(specs, spec.suite))


def overlay_path(spec: LanguageSpec, specs: Sequence[LanguageSpec]) -> Path:
    rootfs = rootfs_path(spec, specs).name
    return sandbox_root() / "overlay" / f"{spec.key}-{spec.content_hash()[:12]}-{rootfs}"


def toolchain_id(spec: LanguageSpec, specs: Sequence[LanguageSpec]) -> str:
    """What a cached verdict depends on besides the program: suite, packages, language folder."""
    return overlay_path(spec, specs).name


@contextmanager
def _build_lock() -> Iterator[None]:
    sandbox_root().mkdir(parents=True, exist_ok=True)
    with open(sandbox_root() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _require_tool(name: str, package: str) -> None:
    if shutil.which(name) is None:
        raise UsageError(f"`{name}` is not installed; install it with `apt-get install {package}` "
                         "(scripts/install-sandbox-deps does it)")


def build_rootfs(suite: str, packages: Sequence[str], log: Callable[[str], None]) -> Path:
    """Build (or reuse) the suite's tree, with the mount points of the work folder and overlays."""
    _require_tool("mmdebstrap", "mmdebstrap")
    target = sandbox_root() / "rootfs" / rootfs_id(suite, packages)
    with _build_lock():
        if (target / ".complete").exists():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        log(f"building {suite} root filesystem with {len(packages)} packages (mmdebstrap; a few minutes)")
        command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(packages)}", suite, str(partial)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise UsageError(f"mmdebstrap for {suite} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        for mount in (WORK_MOUNT, OVERLAY_MOUNT):
            (partial / mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (partial / ".complete").write_text(" ".join(packages) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def build_overlay(spec: LanguageSpec, rootfs: Path, overlay: Path, log: Callable[[str], None]) -> Path:
    """Copy the language folder into its overlay and run its setup commands inside the tree."""
    with _build_lock():
        if (overlay / ".complete").exists():
            return overlay
        partial = overlay.with_name(overlay.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(spec.directory, partial)
        mount = f"{OVERLAY_MOUNT}/{spec.key}"
        for command in spec.setup:
            log(f"{spec.key}: {command}")
            bwrap = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", str(rootfs), "/",
                     "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", OVERLAY_MOUNT,
                     "--bind", str(partial), mount,
                     "--chdir", mount, "--setenv", "HOME", "/tmp",
                     "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "/bin/sh", "-c", command]
            result = subprocess.run(bwrap, capture_output=True, text=True)
            if result.returncode != 0:
                raise UsageError(f"setup of {spec.key} failed: `{command}` exited {result.returncode}: "
                                 f"{(result.stdout + result.stderr).strip()[-2000:]}")
        (partial / ".complete").write_text("ok\n")
        shutil.rmtree(overlay, ignore_errors=True)
        partial.rename(overlay)
    return overlay


def build_all(specs: Sequence[LanguageSpec], log: Callable[[str], None],
              selected: Sequence[str] | None = None) -> dict[str, Path]:
    """Build the trees and overlays of the `selected` languages (default all); returns overlays by key.

    Tree identities come from all `specs`, so building one language reuses the suite's tree.
    """
    chosen = [spec for spec in specs if selected is None or spec.key in selected]
    overlays = {}
    for suite in sorted({spec.suite for spec in chosen}):
        rootfs = build_rootfs(suite, suite_packages(specs, suite), log)
        for spec in (s for s in chosen if s.suite == suite):
            overlays[spec.key] = build_overlay(spec, rootfs, overlay_path(spec, specs), log)
    return overlays
