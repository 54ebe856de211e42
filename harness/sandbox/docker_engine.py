"""Starting a Docker engine with the storage driver that shares image layers where the host allows it.

Why: the storage driver decides what a container start costs. overlay2 (kernel overlayfs) and
fuse-overlayfs mount the image's layers as they are; vfs, the one driver that works everywhere,
copies the whole image (gigabytes for a toolchain tree) for every container. So the engine is
started with the first of overlay2, fuse-overlayfs and vfs that this host can run: dockerd
exits at once when a driver cannot initialise here, and the next one is tried.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

DRIVERS = ("overlay2", "fuse-overlayfs", "vfs")  # layers shared by the kernel, by FUSE, copied
START_WAIT_S = 60


def usable_drivers() -> list[str]:
    """The drivers worth trying here, best first: overlayfs must be in the kernel, fuse-overlayfs
    needs its binary and /dev/fuse; vfs always works."""
    filesystems = Path("/proc/filesystems").read_text() if Path("/proc/filesystems").exists() else ""
    usable = []
    if "\toverlay\n" in filesystems:
        usable.append("overlay2")
    if shutil.which("fuse-overlayfs") is not None and os.path.exists("/dev/fuse"):
        usable.append("fuse-overlayfs")
    return [*usable, "vfs"]


def start_dockerd(log: Path, reachable: Callable[[], bool]) -> tuple[subprocess.Popen[bytes], str]:
    """Start `dockerd` (as root) with the best usable driver; returns the process and its driver.

    `reachable` says whether the engine answers yet. An engine that ran before with another
    driver keeps its images under that driver's folder, so a host that gains overlayfs rebuilds
    its images once.
    """
    failures = []
    for driver in usable_drivers():
        with open(log, "ab") as output:
            process = subprocess.Popen(["dockerd", f"--storage-driver={driver}"], stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_WAIT_S
        while process.poll() is None and not reachable() and time.monotonic() < deadline:
            time.sleep(0.5)
        if process.poll() is None and reachable():
            return process, driver
        process.kill()
        process.wait()
        failures.append(driver)
    raise RuntimeError(f"dockerd did not start with any storage driver ({', '.join(failures)}); "
                       f"see {log}: {log.read_text(errors='replace')[-1500:]}")
