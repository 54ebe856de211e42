"""The Docker backend against the local backend on CRUXEval-X gold programs, side by side in one run.

For each `language:count` pair, the first `count` gold programs run through `DockerSandbox`, then
through `LocalSandbox` with `warm=false` (one bubblewrap sandbox per program, the isolation the
Docker backend matches) and with its defaults (warm runners), all with no execution cache.
Printed per language: each side's seconds per program, the Docker backend's cost as a multiple of
each local one, and every program whose status differs. The engine's storage driver is printed
first, since it decides what a container start costs.

    python benchmarks/docker_batch.py [--programs py:50,cpp:20] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from harness.sandbox.docker import DockerSandbox
from harness.sandbox.local import LocalSandbox
from harness.sandbox.types import Execution, Program

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval-x" / "cruxeval_preprocessed"


def timed(sandbox: LocalSandbox, programs: Sequence[Program]) -> tuple[list[Execution], float]:
    started = time.perf_counter()
    try:
        return sandbox.run(programs), time.perf_counter() - started
    finally:
        sandbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default="py:50,cpp:20")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    docker = DockerSandbox(workers=args.workers)
    reason = docker.unavailable("py")
    if reason:
        raise SystemExit(f"the Docker backend cannot run: {reason}")
    print(f"storage driver: {docker.client.info()['Driver']}")
    for pair in args.programs.split(","):
        language, count = pair.split(":")
        rows = [json.loads(line) for line in (DATA / f"{language}.jsonl").open(encoding="utf-8")][:int(count)]
        programs = [Program(language, row["code"]) for row in rows]
        in_docker, docker_s = timed(DockerSandbox(workers=args.workers), programs)
        plain, plain_s = timed(LocalSandbox(workers=args.workers, warm=False), programs)
        warm, warm_s = timed(LocalSandbox(workers=args.workers), programs)
        differ = [f"  id {row['id']}: docker {d.status} ({d.reason}), local {p.status}"
                  for row, d, p in zip(rows, in_docker, plain) if d.status != p.status]
        per = [seconds / len(programs) for seconds in (docker_s, plain_s, warm_s)]
        print(f"{language}: {len(programs)} programs; s/program docker {per[0]:.3f}, local warm=false "
              f"{per[1]:.3f} (docker x{per[0] / per[1]:.1f}), local default {per[2]:.3f} "
              f"(docker x{per[0] / per[2]:.1f}); {len(differ)} status differences")
        print("\n".join(differ), end="\n" if differ else "")
    docker.close()


if __name__ == "__main__":
    main()
