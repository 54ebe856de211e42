"""Leaderboards: strict specs, eligible runs, cells equal to metrics.json, n/a and incomplete cells, outputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness import evaluate
from harness.cli import app
from harness.errors import UsageError
from harness.report.leaderboard import BuildResult, Leaderboard, RowResult, build_leaderboard
from harness.report.leaderboard_spec import load_leaderboard_spec, resolve_spec_path
from tests.leaderboard_support import build_gsm8k_runs, write_replay
from tests.sandbox_support import CRUXEVAL_X, require_language

GSM8K_SPEC = """\
name: gsm8k-test
title: "GSM8K <test>"
columns:
  - id: strict
    task: gsm8k
    metric: "exact_match[strict-match]"
  - id: flexible
    task: gsm8k
    metric: "exact_match[flexible-extract]"
    aggregate: pooled
sort: {column: strict, order: descending}
eligibility: {runs: RUNS}
"""
LABELS = {"strict": "exact_match[strict-match]", "flexible": "exact_match[flexible-extract]"}


def write_spec(tmp_path: Path, text: str, name: str = "board.yaml") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    return path


def build(tmp_path: Path, spec_text: str, runs: Path, **options: Any) -> BuildResult:
    return build_leaderboard(write_spec(tmp_path, spec_text), [runs], tmp_path / "out", **options)


@pytest.fixture(scope="module")
def gsm8k(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_gsm8k_runs(tmp_path_factory.mktemp("gsm8k-runs"))


def row_of(board: Leaderboard, model_part: str) -> RowResult:
    [row] = [row for row in board.rows if model_part in row.row.model]
    return row


def metrics_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


# --- spec validation -----------------------------------------------------------------------------

VALID = GSM8K_SPEC.replace("RUNS", "latest")


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("title:", "titel:", 2, "key 'titel': unknown key in leaderboard"),
    ("    aggregate: pooled", "    aggregate: median", 10, "key 'aggregate': 'median' is not one of pooled, subset_mean"),
    ("  - id: flexible", "  - id: strict", 7, "key 'id': column id 'strict' is used twice"),
    ("  - id: flexible", "  - id: 'a b'", 7, "key 'id': 'a b': use letters, digits"),
    ("    metric: \"exact_match[flexible-extract]\"", "    metric: \"exact_match[flexible]\"", 9,
     "key 'metric': task 'gsm8k' has no per-sample metric 'exact_match[flexible]'"),
    ("{column: strict,", "{column: best,", 11, "key 'column': no column with id 'best'"),
    ("{runs: RUNS}", "{runs: newest}", 12, "key 'runs': 'newest' is not one of all, latest"),
    ("    aggregate: pooled", "    subsets: main", 10, "key 'subsets': expected `all` or a non-empty list"),
    ("    aggregate: pooled", "    metrics: x", 10, "key 'metrics': unknown key in columns entry"),
])
def test_spec_errors_name_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    text = GSM8K_SPEC.replace(old, new).replace("RUNS", "latest")
    assert text != VALID
    path = write_spec(tmp_path, text)
    with pytest.raises(UsageError) as error:
        load_leaderboard_spec(path)
    assert str(error.value).startswith(f"{path}:{line}: ") and message in str(error.value)


@pytest.mark.parametrize(("view", "message"), [
    ("{type: heatmap, column: strict, subset_name: '{language}.{subtask}', x: lang}",
     "key 'x': 'lang' is not a part of subset_name"),
    ("{type: heatmap, column: strict, subset_name: 'plain', x: language}", "key 'subset_name': 'plain': name each part"),
    ("{type: chart, column: strict, subset_name: '{a}', x: a}", "key 'type': 'chart' is not one of heatmap"),
    ("{type: heatmap, column: nope, subset_name: '{a}', x: a}", "key 'column': no column with id 'nope'"),
])
def test_view_errors_name_the_key(tmp_path: Path, view: str, message: str) -> None:
    path = write_spec(tmp_path, f"{VALID}views:\n  - {view}\n")
    with pytest.raises(UsageError, match=re.escape(message)) as error:
        load_leaderboard_spec(path)
    assert str(error.value).startswith(f"{path}:14: ")


def test_pinned_version_of_a_task_without_column_is_rejected(tmp_path: Path) -> None:
    path = write_spec(tmp_path, VALID.replace("{runs: latest}", "{runs: latest, task_versions: {math: '1'}}"))
    with pytest.raises(UsageError, match=r"board.yaml:12: key 'math': task 'math' has no column"):
        load_leaderboard_spec(path)


def test_builtin_leaderboards_load_by_name() -> None:
    main = load_leaderboard_spec(resolve_spec_path(Path("main")))
    assert {column.task for column in main.columns} == {"gsm8k", "cruxeval-x"}
    crux = load_leaderboard_spec(resolve_spec_path(Path("cruxeval-x")))
    [heatmap] = crux.heatmaps
    assert heatmap.fields("py.output") == {"language": "py", "subtask": "output"}
    assert heatmap.fields("main") is None
    with pytest.raises(UsageError, match="not found; pass a yaml file or a built-in name"):
        resolve_spec_path(Path("no-such-board"))


# --- eligibility and values on real GSM8K runs ---------------------------------------------------

def test_cells_equal_metrics_json_for_every_run(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    board = build(tmp_path, GSM8K_SPEC.replace("RUNS", "all"), gsm8k["oracle"].parent).leaderboard
    assert len(board.rows) == 4  # oracle, replay-a twice, replay-b
    for result in board.rows:
        [index] = result.row.runs.values()
        reported = board.selection.runs[index].metrics["metrics"]
        for column_id, label in LABELS.items():
            cell = result.cells[column_id]
            assert (cell.value, cell.n, cell.unscored) == (reported[label]["value"], reported[label]["n"], reported[label]["unscored"])
            assert (cell.ci_low, cell.ci_high, cell.ci_method) == (reported[label]["ci_low"], reported[label]["ci_high"], "bootstrap")


def test_latest_run_per_model_and_every_exclusion_has_a_reason(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    board = build(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"), gsm8k["oracle"].parent).leaderboard
    root = gsm8k["oracle"].parent.parent
    assert sorted(result.row.model for result in board.rows) == ["oracle", f"replay:{root / 'replay-a.jsonl'}",
                                                                 f"replay:{root / 'replay-b.jsonl'}"]
    replay_a = row_of(board, "replay-a")
    assert board.selection.runs[replay_a.row.runs["gsm8k"]].path == gsm8k["replay-a-new"]
    assert replay_a.cells["strict"].value == metrics_of(gsm8k["replay-a-new"])["metrics"][LABELS["strict"]]["value"]
    reasons = {Path(item.path).name: item.reason for item in board.selection.excluded}
    assert set(reasons) == {"replay-a-old", "old-version", "changed-hash", "unfinished"}
    assert "superseded by the newer run" in reasons["replay-a-old"] and "replay-a-new" in reasons["replay-a-old"]
    assert "version '0.9' differs from version '1.0'" in reasons["old-version"]
    assert "content hash 000000000000 differs" in reasons["changed-hash"]
    assert "has not finished" in reasons["unfinished"]


def test_pinned_version_keeps_only_runs_of_that_version(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    spec = GSM8K_SPEC.replace("{runs: RUNS}", "{runs: latest, task_versions: {gsm8k: '0.9'}}")
    board = build(tmp_path, spec, gsm8k["oracle"].parent).leaderboard
    assert [run.path.name for run in board.selection.runs] == ["old-version"]
    assert board.selection.identities["gsm8k"].source == "pinned in the spec"
    reasons = {Path(item.path).name: item.reason for item in board.selection.excluded}
    assert "differs from version '0.9' (pinned in the spec)" in reasons["oracle"]


def test_unscored_samples_mark_the_cell_incomplete(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    board = build(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"), gsm8k["oracle"].parent).leaderboard
    replay_b = row_of(board, "replay-b").cells["strict"]
    assert (replay_b.status, replay_b.unscored, replay_b.n) == ("incomplete", 1, 9)
    assert "1 unscored samples" in replay_b.reason
    assert row_of(board, "oracle").cells["strict"].status == "ok"


def test_rows_follow_the_sort_column_and_order(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    runs = gsm8k["oracle"].parent
    descending = [result.cells["strict"].value for result in build(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"), runs).leaderboard.rows]
    spec = GSM8K_SPEC.replace("RUNS", "latest").replace("order: descending", "order: ascending")
    ascending = [result.cells["strict"].value for result in build(tmp_path, spec, runs).leaderboard.rows]
    assert descending == sorted(descending, reverse=True) and ascending == sorted(descending)
    assert len(set(descending)) == 3  # the three models really differ


def test_column_of_a_task_without_runs_is_na_never_zero(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    result = build_leaderboard(Path("main"), [gsm8k["oracle"].parent], tmp_path / "out")
    cells = [row.cells["cruxeval-x"] for row in result.leaderboard.rows]
    assert cells and all(cell.status == "n/a" and cell.value is None for cell in cells)
    assert "no eligible run of task 'cruxeval-x'" in result.summary()
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    [first_row] = [line for line in markdown.splitlines() if line.startswith("| 1 |")]
    assert first_row.endswith("| n/a |")


# --- outputs -------------------------------------------------------------------------------------

def test_cli_writes_markdown_json_html_and_run_pages(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    spec = write_spec(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"))
    out = tmp_path / "site"
    result = CliRunner().invoke(app, ["leaderboard", "build", str(spec), "--runs", str(gsm8k["oracle"].parent),
                                      "--out", str(out), "--max-samples", "4"])
    assert result.exit_code == 0, result.output
    assert "3 rows from 3 runs; 4 excluded" in result.output and "wrote 3 run pages" in result.output
    data = json.loads((out / "leaderboard.json").read_text())
    models = [row["model"] for row in data["rows"]]
    markdown = (out / "leaderboard.md").read_text()
    for rank, row in enumerate(data["rows"], start=1):
        cell = row["cells"]["strict"]
        half = 100 * (cell["ci_high"] - cell["ci_low"]) / 2
        assert f"| {rank} | {row['model']} | {100 * cell['value']:.2f} ± {half:.2f}" in markdown
    assert markdown.count("\n| ") == 1 + len(models)  # header + one line per model
    html = (out / "index.html").read_text()
    assert "&lt;test&gt;" in html and "<test>" not in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html), "index.html must not load anything"
    for row in data["rows"]:
        assert f'href="runs/{row["runs"]["gsm8k"]}.html"' in html
        assert (out / "runs" / f"{row['runs']['gsm8k']}.html").is_file()


def page_data(page: str) -> dict[str, list[Any]]:
    """The samples a run page embeds (its JavaScript draws them as text)."""
    [blob] = re.findall(r'<script type="application/json" id="samples-data">(.*?)</script>', page, re.S)
    return json.loads(blob)


def test_run_page_shows_failures_first_caps_and_escapes(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    result = build(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"), gsm8k["oracle"].parent, max_samples=4)
    board = result.leaderboard
    index = row_of(board, "replay-b").row.runs["gsm8k"]  # 1 wrong, 1 unscored, 8 right
    page = (tmp_path / "out" / "runs" / f"{board.slugs[index]}.html").read_text()
    assert "Showing 4 of 10 samples, failures first; all samples are in" in page
    assert str((gsm8k["replay-b"] / "samples.parquet").resolve()) in page
    data = page_data(page)
    assert data["verdict"] == ["fail", "unscored", "pass", "pass"] and data["failed"] == [True, True, False, False]
    table = pq.read_table(gsm8k["replay-b"] / "samples.parquet").to_pylist()
    assert data["id"] == [table[0]["id"], table[1]["id"], table[2]["id"], table[3]["id"]]  # failures first, then file order
    assert data["response"][2] == table[2]["response"] and data["prompt"][0] == table[0]["prompt"]
    assert [label for label, _ in data["extracted"][0]] == ["strict-match", "flexible-extract", "math-verify"]
    assert data["scores"][1][0] == ["exact_match[strict-match]", "unscored"] and data["scores"][2][0][1] == "1"
    assert "<script>alert" in data["response"][2] and "<script>alert" not in page  # text survives, markup does not


def test_bad_spec_exits_2_with_one_line(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    spec = write_spec(tmp_path, VALID.replace("title:", "titel:"))
    result = CliRunner().invoke(app, ["leaderboard", "build", str(spec), "--runs", str(gsm8k["oracle"].parent),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "board.yaml:2: key 'titel'" in result.output


# --- CRUXEval-X: subset means, per-language view, uncomputable subsets ------------------------------

CRUX_LANGUAGES = ("py", "lua")


@pytest.fixture(scope="module")
def crux(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """oracle on py+lua (3 problems per subset); a replay with lua inputs wrong and lua outputs missing;
    a replay that only ran py."""
    if not CRUXEVAL_X.is_dir():
        pytest.skip(f"CRUXEval-X data not found at {CRUXEVAL_X}")
    for language in CRUX_LANGUAGES:
        require_language(language)
    root = tmp_path_factory.mktemp("crux")
    cache = root / "cache"

    def run(name: str, model: str, languages: str) -> Path:
        evaluate("cruxeval-x", model, data=CRUXEVAL_X, run_dir=root / "runs" / name, limit=3,
                 task_args={"subsets": languages}, cache_dir=cache, use_cache=False)
        return root / "runs" / name

    oracle = run("oracle", "oracle", ",".join(CRUX_LANGUAGES))
    table = pq.read_table(oracle / "samples.parquet", columns=["id", "response"])
    responses = dict(zip(table["id"].to_pylist(), table["response"].to_pylist()))
    mixed = {key: ("[ANSWER]\nnil\n" if key.startswith("lua/input/") else text)
             for key, text in responses.items() if not key.startswith("lua/output/")}
    python_only = {key: text for key, text in responses.items() if key.startswith("py/")}
    return {
        "oracle": oracle,
        "mixed": run("mixed", f"replay:{write_replay(root / 'mixed.jsonl', mixed)}", ",".join(CRUX_LANGUAGES)),
        "python-only": run("python-only", f"replay:{write_replay(root / 'py.jsonl', python_only)}", "py"),
    }


def cells_by_run(result: BuildResult, column: str) -> dict[str, Any]:
    board = result.leaderboard
    return {board.selection.runs[row.row.runs["cruxeval-x"]].path.name: row.cells[column] for row in board.rows}


def test_subset_means_equal_the_tasks_language_means(tmp_path: Path, crux: dict[str, Path]) -> None:
    result = build_leaderboard(Path("cruxeval-x"), [crux["oracle"].parent], tmp_path / "out")
    label = "pass@1[answer]"
    summary = metrics_of(crux["oracle"])["summary"]
    for column, part in (("mean", "all"), ("input", "input"), ("output", "output")):
        cell = cells_by_run(result, column)["oracle"]
        assert cell.value == summary[f"{label}/{part}/language_mean"]["value"] and cell.ci_method == "normal"
    pooled = cells_by_run(result, "pooled")["oracle"]
    assert pooled.value == metrics_of(crux["oracle"])["metrics"][label]["value"] and pooled.ci_method == "bootstrap"
    mixed = metrics_of(crux["mixed"])
    assert cells_by_run(result, "input")["mixed"].value == mixed["summary"][f"{label}/input/language_mean"]["value"]
    assert cells_by_run(result, "pooled")["mixed"].value == mixed["metrics"][label]["value"]


def test_subset_without_scored_samples_makes_the_mean_na(tmp_path: Path, crux: dict[str, Path]) -> None:
    result = build_leaderboard(Path("cruxeval-x"), [crux["oracle"].parent], tmp_path / "out")
    mean, output = cells_by_run(result, "mean")["mixed"], cells_by_run(result, "output")["mixed"]
    assert mean.status == output.status == "n/a" and mean.value is None
    assert "lua.output has no scored samples" in mean.reason
    assert cells_by_run(result, "pooled")["mixed"].status == "incomplete"
    partial = cells_by_run(result, "mean")["python-only"]
    assert partial.status == "incomplete" and partial.missing_subsets == ("lua.input", "lua.output")


def test_heatmap_cells_are_the_subsets_own_metrics(tmp_path: Path, crux: dict[str, Path]) -> None:
    result = build_leaderboard(Path("cruxeval-x"), [crux["oracle"].parent], tmp_path / "out")
    [heatmap] = result.leaderboard.heatmaps
    assert heatmap.panels == ["input", "output"] and heatmap.xs == sorted(CRUX_LANGUAGES)
    for row in result.leaderboard.rows:
        run = result.leaderboard.selection.runs[row.row.runs["cruxeval-x"]]
        for subset, entry in run.metrics["subsets"].items():
            language, subtask = subset.split(".")
            cell = heatmap.cells[(row.row.key, subtask, language)]
            assert (cell.value, cell.ci_low, cell.ci_high) == (entry["pass@1[answer]"]["value"], entry["pass@1[answer]"]["ci_low"],
                                                               entry["pass@1[answer]"]["ci_high"])
    mixed_row = row_of(result.leaderboard, "mixed").row.key
    assert heatmap.cells[(mixed_row, "output", "lua")].status == "n/a"
    assert heatmap.cells[(mixed_row, "input", "lua")].value == 0.0
    html = (tmp_path / "out" / "index.html").read_text()
    assert html.count('class="heatmap"') == 2 and "#subset=py.output" in html


def test_run_without_text_columns_still_scores_and_says_so(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    """A slim baseline keeps ids, subsets and scores only; its cells are the same and its page says why it is bare."""
    slim = tmp_path / "runs" / "slim"
    shutil.copytree(gsm8k["replay-b"], slim)
    table = pq.read_table(slim / "samples.parquet", columns=["id", "subset", "attempt", "scores"])
    pq.write_table(table, slim / "samples.parquet")
    result = build(tmp_path, GSM8K_SPEC.replace("RUNS", "latest"), tmp_path / "runs")
    [row] = result.leaderboard.rows
    assert row.cells["strict"].value == metrics_of(gsm8k["replay-b"])["metrics"][LABELS["strict"]]["value"]
    page = (tmp_path / "out" / "runs" / f"{result.leaderboard.slugs[0]}.html").read_text()
    assert page_data(page)["prompt"] == [None] * 10 and "Showing 10 of 10 samples" in page


def test_max_samples_must_be_positive(tmp_path: Path, gsm8k: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="--max-samples 0"):
        build(tmp_path, VALID, gsm8k["oracle"].parent, max_samples=0)


def test_worker_processes_give_the_same_leaderboard(tmp_path: Path, gsm8k: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Many runs are read in forked workers; the result must not depend on it."""
    spec = GSM8K_SPEC.replace("RUNS", "all")
    serial = build(tmp_path / "serial", spec, gsm8k["oracle"].parent).leaderboard
    monkeypatch.setattr("harness.report.leaderboard_read.PARALLEL_MIN_RUNS", 1)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    parallel = build(tmp_path / "parallel", spec, gsm8k["oracle"].parent).leaderboard
    assert [(row.row.key, row.cells) for row in parallel.rows] == [(row.row.key, row.cells) for row in serial.rows]
    assert sorted(path.name for path in (tmp_path / "parallel" / "out" / "runs").iterdir()) == sorted(
        f"{slug}.html" for slug in serial.slugs)


def test_unquoted_task_version_is_rejected(tmp_path: Path) -> None:
    path = write_spec(tmp_path, VALID.replace("{runs: latest}", "{runs: latest, task_versions: {gsm8k: 1.10}}"))
    with pytest.raises(UsageError, match=r"board.yaml:12: key 'gsm8k': a task version is a quoted string"):
        load_leaderboard_spec(path)
