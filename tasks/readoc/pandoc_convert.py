"""One pandoc conversion through the binary, under a timeout; None where pandoc cannot convert.

READoc's official suite converts tables with the PyPI `pandoc` package, which runs the same binary
twice (reader to JSON, JSON to writer) through its own Python types. Calling the binary once,
`pandoc -f SOURCE -t TARGET`, gives the same output (checked against the package on READoc's
tables) in a third of the time, and the timeout keeps a model's pathological output from
stalling a run. Outputs differ between pandoc releases; our expected values are pinned to
Debian's pandoc 2.17.1.1 (scripts/install-pandoc).
"""

from __future__ import annotations

import shutil
import subprocess

PANDOC_TIMEOUT_S = 30.0


def pandoc_available() -> bool:
    """Whether the pandoc binary is on PATH."""
    return shutil.which("pandoc") is not None


def convert(text: str, source: str, target: str) -> str | None:
    """`text` converted from `source` to `target` format, or None on any pandoc failure."""
    try:
        converted = subprocess.run(["pandoc", "-f", source, "-t", target], input=text.encode("utf-8"),
                                   capture_output=True, timeout=PANDOC_TIMEOUT_S, check=True)
        return converted.stdout.decode("utf-8")
    except (subprocess.SubprocessError, UnicodeError, OSError):
        return None
