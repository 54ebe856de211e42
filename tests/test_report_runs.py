"""Reports find finished runs wherever they sit under a runs folder, symlinked ones included."""

from __future__ import annotations

from pathlib import Path

from harness import evaluate
from harness.report.runs import find_runs


def test_symlinked_runs_are_found_once_and_link_loops_end(tmp_path: Path) -> None:
    run = evaluate("gsm8k", "oracle", sample_data=True, run_dir=tmp_path / "store" / "run", use_cache=False).run_dir
    board = tmp_path / "board"
    board.mkdir()
    (board / "linked").symlink_to(run, target_is_directory=True)
    (board / "again").symlink_to(run, target_is_directory=True)
    (board / "loop").symlink_to(board, target_is_directory=True)
    runs, skipped = find_runs([board])
    assert [found.path.resolve() for found in runs] == [run.resolve()]
    assert skipped == []
