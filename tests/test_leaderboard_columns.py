"""Leaderboard columns beyond subsets: a task's groups, its official headline scores, the mean of
other columns, a pinned shot count; and boards and comparisons built from suite folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import evaluate
from harness.errors import UsageError
from harness.report.compare import compare_paths
from harness.report.leaderboard import build_leaderboard
from harness.report.leaderboard_spec import load_leaderboard_spec
from harness.suite_spec import resolve_tasks
from harness.suites import evaluate_suite
from test_suites import CountingModel, write_grouped_task  # noqa: F401  (registers the counting model)

RAW = "exact_match[raw]"
BOARD = """\
name: columns
columns:
  - {id: gsm8k, task: gsm8k, metric: "exact_match[strict-match]"}
  - {id: toy-l0, task: toy, metric: "exact_match[raw]", group: level, subsets: [L0]}
  - {id: toy-levels, task: toy, metric: "exact_match[raw]", group: level, aggregate: subset_mean}
  - {id: official, task: toy, metric: "exact_match[raw]", headline: official}
  - {id: unmeasured, task: toy, metric: "exact_match[raw]", headline: unmeasured}
  - {id: average, mean_of: [gsm8k, toy-l0]}
sort: {column: average}
eligibility:
  num_fewshot: {gsm8k: 5}
views:
  - {type: heatmap, column: toy-levels, subset_name: "{level}", x: level}
"""


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/gsm8k+toy__counting and runs/gsm8k+toy__oracle (suite folders), and a 0-shot GSM8K run."""
    root = tmp_path_factory.mktemp("suites")
    tasks = write_grouped_task(root)
    suite = resolve_tasks("gsm8k,toy", [tasks])
    for model in ("counting", "oracle"):
        evaluate_suite(suite, model, sample_data=True, runs_root=root / "runs", tasks_dirs=[tasks], use_cache=False)
    evaluate("gsm8k", "oracle", sample_data=True, task_args={"num_fewshot": 0}, run_dir=root / "runs" / "zero-shot",
             use_cache=False)
    return root


def build(root: Path, text: str = BOARD) -> dict:
    spec = root / "board.yaml"
    spec.write_text(text)
    build_leaderboard(spec, [root / "runs"], root / "site")
    return json.loads((root / "site" / "leaderboard.json").read_text())


def test_a_board_from_suite_folders_shows_groups_headlines_and_means(suite_runs: Path) -> None:
    board = build(suite_runs)
    rows = {row["model"]: row["cells"] for row in board["rows"]}
    assert sorted(rows) == ["counting", "oracle"]
    counting = rows["counting"]
    toy_metrics = json.loads((suite_runs / "runs" / "gsm8k+toy__counting" / "toy" / "metrics.json").read_text())
    level0 = toy_metrics["groups"]["level"]["L0"][RAW]
    assert counting["toy-l0"]["value"] == level0["value"] == pytest.approx(2 / 3)
    assert (counting["toy-l0"]["ci_low"], counting["toy-l0"]["ci_method"]) == (level0["ci_low"], "bootstrap")
    levels = [toy_metrics["groups"]["level"][name][RAW]["value"] for name in ("L0", "L1", "L2")]
    assert counting["toy-levels"]["value"] == pytest.approx(sum(levels) / 3)
    assert counting["official"]["value"] == 0.25 and counting["official"]["ci_low"] is None
    assert counting["unmeasured"]["status"] == "n/a" and "not measured" in counting["unmeasured"]["reason"]
    assert counting["average"]["value"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert rows["oracle"]["average"]["value"] == 1.0 and board["rows"][0]["model"] == "oracle"
    heatmap = board["heatmaps"][0]
    assert heatmap["x_values"] == ["L0", "L1", "L2"] and len(heatmap["cells"]) == 6
    assert {cell["x"]: cell["value"] for cell in heatmap["cells"] if cell["row"] == "counting"} == \
        {"L0": pytest.approx(2 / 3), "L1": pytest.approx(1 / 3), "L2": pytest.approx(2 / 3)}


def test_suite_folders_leave_discovery_alone_and_other_shot_counts_are_excluded(suite_runs: Path) -> None:
    board = build(suite_runs)
    reasons = {Path(item["path"]).name: item["reason"] for item in board["excluded"]}
    assert reasons == {"zero-shot": "task gsm8k ran 0-shot; the leaderboard requires 5-shot (eligibility num_fewshot)"}
    assert len(board["runs"]) == 4 and board["eligibility"]["num_fewshot"] == {"gsm8k": 5}
    markdown = (suite_runs / "site" / "leaderboard.md").read_text()
    assert "**mean of gsm8k, toy-l0**: unweighted mean of gsm8k, toy-l0" in markdown and "5-shot runs only" in markdown
    assert "values of group level: L0" in markdown and "toy's official score `official`" in markdown


def test_a_mean_column_is_not_computable_when_a_part_is_missing(suite_runs: Path) -> None:
    board = build(suite_runs, BOARD.replace("mean_of: [gsm8k, toy-l0]", "mean_of: [gsm8k, unmeasured]"))
    for row in board["rows"]:
        assert row["cells"]["average"]["status"] == "n/a" and row["cells"]["average"]["value"] is None
        assert "no value in unmeasured" in row["cells"]["average"]["reason"]


@pytest.mark.parametrize(("edit", "error"), [
    (("group: level, subsets: [L0]", "group: level, headline: x"), r"board.yaml:4: key 'group': a headline column shows"),
    (("headline: official}", "headline: official, subsets: [a]}"), r"board.yaml:6: key 'subsets': a headline column shows"),
    (("mean_of: [gsm8k, toy-l0]", "mean_of: [gsm8k, nope]"), r"board.yaml:8: key 'mean_of': 'nope' is not a task column"),
    (("- {id: average, mean_of", "- {id: average, task: gsm8k, mean_of"), r"board.yaml:8: key 'task': a mean_of column"),
    (("column: toy-levels,", "column: average,"), r"board.yaml:13: key 'column': column 'average' is one number per row"),
    (("num_fewshot: {gsm8k: 5}", "num_fewshot: {gsm8k: five}"), r"board.yaml:11: key 'gsm8k': a shot count is a whole number"),
    (("task: toy, metric: \"exact_match[raw]\", group: level, subsets", "task: math, metric: \"hendrycks[boxed]\", group: levle, subsets"),
     r"board.yaml:4: key 'group': task 'math' has no group 'levle'; its groups: level, subject"),
])
def test_new_column_keys_are_checked(tmp_path: Path, edit: tuple[str, str], error: str) -> None:
    path = tmp_path / "board.yaml"
    assert edit[0] in BOARD
    path.write_text(BOARD.replace(*edit, 1))
    with pytest.raises(UsageError, match=error):
        load_leaderboard_spec(path)


def test_the_built_in_boards_load() -> None:
    root = Path(__file__).resolve().parents[1] / "leaderboards"
    openllm = load_leaderboard_spec(root / "openllm-v1.yaml")
    assert openllm.column("average").mean_of == ("arc", "hellaswag", "truthfulqa", "mmlu", "winogrande", "gsm8k")
    assert openllm.num_fewshot["arc-challenge"] == 25
    assert [column.headline for column in load_leaderboard_spec(root / "rewardbench.yaml").columns][:5] == \
        ["overall", "Chat", "Chat Hard", "Safety", "Reasoning"]
    assert {column.group for column in load_leaderboard_spec(root / "math.yaml").columns} == {None, "level", "subject"}


def test_compare_reports_each_group_value(suite_runs: Path) -> None:
    runs = suite_runs / "runs"
    comparison = compare_paths(runs / "gsm8k+toy__oracle" / "toy", runs / "gsm8k+toy__counting" / "toy", [RAW])
    scopes = {row.subset: row for row in comparison.rows}
    assert {"all", "a", "b", "level=L0", "level=L1", "level=L2"} == set(scopes)
    assert (scopes["level=L0"].base, scopes["level=L0"].new, scopes["level=L0"].n) == (1.0, pytest.approx(2 / 3), 3)
    without = compare_paths(runs / "gsm8k+toy__oracle" / "toy", runs / "gsm8k+toy__counting" / "toy", [RAW], by_group=False)
    assert {row.subset for row in without.rows} == {"all", "a", "b"}


def test_the_rewardbench_board_shows_the_official_sections(tmp_path: Path) -> None:
    from rewardbench_fixtures import write_v1

    write_v1(tmp_path / "data")
    result = evaluate("rewardbench", "oracle", data=tmp_path / "data", run_dir=tmp_path / "runs" / "oracle", use_cache=False)
    build_leaderboard(Path("rewardbench"), [tmp_path / "runs"], tmp_path / "site")
    [row] = json.loads((tmp_path / "site" / "leaderboard.json").read_text())["rows"]
    headline = result.metrics["summary"]["headline"]
    for column, name in (("overall", "overall"), ("chat", "Chat"), ("chat-hard", "Chat Hard"), ("safety", "Safety"),
                         ("reasoning", "Reasoning")):
        assert row["cells"][column]["value"] == headline[name] == 1.0
    assert row["cells"]["pairs"]["value"] == 1.0 and row["cells"]["pairs"]["ci_method"] == "bootstrap"
