"""`harness rm-report`: accuracy by margin quartile, agreement between reward models, v1 overall with Prior Sets.

Synthetic runs are written straight to disk (samples.parquet in SAMPLE_SCHEMA, metrics.json from
the harness's own aggregate, manifest.json), eight pairs each, with margins chosen so that every
figure is known by hand: see the comment above each run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness import evaluate
from harness.cli import app
from harness.errors import UsageError
from harness.report.rm_report import (Figure, build_rm_report, cohen_kappa, combined_v1_overall, margin_buckets,
                                      margin_spearman)
from harness.scoring.aggregate import aggregate
from harness.store.run_dir import SAMPLE_SCHEMA, write_json_atomic
from harness.types import SampleRecord
from tests.rewardbench_fixtures import write_prior, write_v1, write_v2

SECTIONS = ("Chat", "Chat", "Chat Hard", "Chat Hard", "Safety", "Safety", "Reasoning", "Reasoning")
# Run A, margins 0, -.5, 1, -1.5, 2, 3, 4, 5: |margin| quartile edges .875, 1.75, 3.25 put two pairs
# in each bucket; right (margin > 0) in 0/2, 1/2, 2/2, 2/2; one exact tie in 8; accuracy 5/8.
RUN_A = [[0, 0], [0, .5], [1, 0], [0, 1.5], [2, 0], [3, 0], [4, 0], [5, 0]]
# Run B, margins 1, -2, 3, .5, -1, 4, 2, -3: edges 1, 2, 3 give buckets of 3, 2, 2, 1 pairs.
RUN_B = [[1, 0], [0, 2], [3, 0], [.5, 0], [0, 1], [4, 0], [2, 0], [0, 3]]
# Run C (a judge): no verdict on pair 1 (credit .5), five ties, then margins 1 and 2: edges 0, 0, .5
# leave Q2 and Q3 empty.
RUN_C = [None, [.3, .3], [.3, .3], [.3, .3], [.3, .3], [.3, .3], [1, 0], [2, 0]]
V1_SUMMARY = {"sections": {"Chat": .9, "Chat Hard": .6, "Safety": .8, "Reasoning": .7, "Prior Sets": None},
              "overall": .75}
PRIOR_SUMMARY = {"sections": {"Chat": None, "Chat Hard": None, "Safety": None, "Reasoning": None, "Prior Sets": .6},
                 "overall": None}


def credit(scores: Sequence[float] | None) -> float:
    """v1's rule: right when the chosen scores strictly higher; a judge without a verdict gets 1/2."""
    return .5 if scores is None else float(scores[0] > max(scores[1:]))


def write_run(folder: Path, task: str, fingerprint: str, scores: Sequence[Sequence[float] | None],
              summary: dict[str, Any] | None = V1_SUMMARY, reward_column: bool = True) -> Path:
    records = [SampleRecord(id=f"s{i + 1}", subset="filtered", attempt=0, prompt="p", response="", target="1",
                            extracted={}, scores={"accuracy": credit(values)}, latency_s=0.0, input_tokens=None,
                            output_tokens=None, cached=False, groups={"section": SECTIONS[i]},
                            reward_scores=None if values is None else tuple(map(float, values)))
               for i, values in enumerate(scores)]
    rows = [{**asdict(record), "scores": list(record.scores.items()), "groups": list(record.groups.items()),
             "extracted": [], "execution": []} for record in records]
    schema = SAMPLE_SCHEMA if reward_column else pa.schema([f for f in SAMPLE_SCHEMA if f.name != "reward_scores"])
    if not reward_column:
        rows = [{key: value for key, value in row.items() if key != "reward_scores"} for row in rows]
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "samples.parquet")
    metrics = aggregate(task, ["accuracy"], records)
    if summary is not None:
        metrics["summary"] = summary
    write_json_atomic(folder / "metrics.json", metrics)
    write_json_atomic(folder / "manifest.json", {
        "task": {"name": task, "version": "1.0", "variant": None, "content_hash": "x"},
        "model": {"spec": f"rm:{folder.name}", "fingerprint": fingerprint}, "status": "complete"})
    return folder


@pytest.fixture()
def runs(tmp_path: Path) -> dict[str, Path]:
    return {
        "a": write_run(tmp_path / "a", "rewardbench", "fp-a", RUN_A),
        "b": write_run(tmp_path / "b", "rewardbench", "fp-b", RUN_B),
        "c": write_run(tmp_path / "c", "rewardbench", "fp-c", RUN_C),
        "prior": write_run(tmp_path / "prior", "rewardbench-prior", "fp-a", RUN_B, PRIOR_SUMMARY),
    }


def accuracies(buckets: Sequence[Any]) -> list[tuple[float | None, int | None]]:
    return [(bucket.accuracy.value, bucket.accuracy.n) for bucket in buckets]


def test_each_run_reports_accuracy_sections_headline_and_ties(runs: dict[str, Path]) -> None:
    a, _, c = build_rm_report([runs["a"], runs["b"], runs["c"]]).runs
    assert (a.accuracy.value, a.accuracy.n) == (.625, 8) and a.accuracy.ci is not None
    assert (a.headline_name, a.headline.value) == ("overall", .75)
    assert a.sections["Chat Hard"]["task_score"].value == .6
    assert (a.sections["Chat Hard"]["pooled_accuracy"].value, a.sections["Chat Hard"]["pooled_accuracy"].n) == (.5, 2)
    assert (a.ties.value, a.ties.n, a.without_scores) == (.125, 8, 0)
    assert (c.accuracy.value, c.ties.value, c.ties.n, c.without_scores) == (.3125, 5 / 7, 7, 1)


def test_margin_quartiles_show_accuracy_rising_with_margin(runs: dict[str, Path]) -> None:
    a, b, c = build_rm_report([runs["a"], runs["b"], runs["c"]]).runs
    assert accuracies(a.buckets) == [(0.0, 2), (.5, 2), (1.0, 2), (1.0, 2)]
    assert [(bucket.low, bucket.high) for bucket in a.buckets] == [(0, .875), (.875, 1.75), (1.75, 3.25), (3.25, 5)]
    assert accuracies(b.buckets) == [(2 / 3, 3), (.5, 2), (.5, 2), (1.0, 1)]
    assert accuracies(c.buckets) == [(0.0, 5), (None, 0), (None, 0), (1.0, 2)]
    assert "tied margins" in (c.buckets[1].accuracy.reason or "")


def test_buckets_average_to_the_accuracy_over_scored_pairs() -> None:
    margins = np.array([.1, -.2, .3, np.nan, .5, -.9, .05, 2.0, 0.0])
    credit_ = np.array([1, 0, 1, .5, 1, 0, 1, 1, 0], dtype=float)
    buckets = margin_buckets(margins, credit_)
    pooled = sum(b.accuracy.value * b.accuracy.n for b in buckets if b.accuracy.value is not None)
    assert sum(b.accuracy.n or 0 for b in buckets) == 8 and pooled / 8 == credit_[~np.isnan(margins)].mean()


def test_agreement_between_pairs_of_runs(runs: dict[str, Path]) -> None:
    report = build_rm_report([runs["a"], runs["b"], runs["c"]])
    ab, ac, bc = report.agreements
    assert (ab.first, ab.second, ab.shared, ab.compared) == (str(runs["a"]), str(runs["b"]), 8, 8)
    assert ab.same_top.value == .5
    assert ab.kappa.value == pytest.approx(-1 / 15)
    assert ab.spearman.value == pytest.approx(1 / 21)
    assert (ab.both_right, ab.only_first_right, ab.only_second_right, ab.both_wrong) == (3, 2, 2, 1)
    assert (ac.shared, ac.compared, ac.same_top.value) == (8, 7, 2 / 7)  # C gave no verdict on pair 1
    assert ac.kappa.value == pytest.approx(8 / 29)
    assert ac.spearman.value == pytest.approx(3 / math.sqrt(14))
    assert (ac.both_right, ac.only_first_right, ac.only_second_right, ac.both_wrong) == (2, 3, 0, 2)
    assert (bc.second, bc.compared) == (str(runs["c"]), 7)


def test_kappa_and_spearman_say_why_when_undefined() -> None:
    everything_right = np.ones(4, dtype=bool)
    assert cohen_kappa(everything_right, everything_right) == Figure(
        None, n=4, reason="both runs got every shared pair right (or every one wrong): chance agreement is 1")
    assert cohen_kappa(np.array([], dtype=bool), np.array([], dtype=bool)).value is None
    assert "same margin" in (margin_spearman(np.ones(3), np.array([1.0, 2.0, 3.0])).reason or "")
    assert margin_spearman(np.ones(1), np.ones(1)).reason == "1 pair scored by both runs; a rank correlation needs 2"


def test_combined_v1_overall_weights_prior_sets_half_and_masks_it_when_absent() -> None:
    assert combined_v1_overall(V1_SUMMARY, PRIOR_SUMMARY) == pytest.approx((2 * (.9 + .6 + .8 + .7) + .6) / 9)
    assert combined_v1_overall(V1_SUMMARY, None) == pytest.approx(.75)
    assert combined_v1_overall({"sections": {"Chat": 1.0}}, PRIOR_SUMMARY) is None
    as_entries = {"sections": {name: {"value": value} for name, value in V1_SUMMARY["sections"].items()}}
    assert combined_v1_overall(as_entries, None) == pytest.approx(.75)


def test_combined_overall_only_for_a_prior_run_of_the_same_fingerprint(runs: dict[str, Path]) -> None:
    report = build_rm_report([runs["a"], runs["b"], runs["prior"]])
    [combined] = report.combined
    assert (combined.fingerprint, combined.v1_run, combined.prior_run) == ("fp-a", str(runs["a"]), str(runs["prior"]))
    assert combined.overall.value == pytest.approx(6.6 / 9)
    assert not any("no rewardbench run of the same model" in note for note in report.notes)
    assert any("only computed between runs of one task" in note for note in report.notes)
    assert [(item.first, item.second) for item in report.agreements] == [(str(runs["a"]), str(runs["b"]))]


def test_a_prior_run_without_its_v1_run_says_so(runs: dict[str, Path]) -> None:
    report = build_rm_report([runs["b"], runs["prior"]])
    assert report.combined == []
    assert f"{runs['prior']}: no rewardbench run of the same model (fingerprint 'fp-a')" in " ".join(report.notes)


@pytest.mark.parametrize("reward_column", [True, False])
def test_a_run_without_reward_scores_is_refused_by_name(tmp_path: Path, reward_column: bool) -> None:
    run = write_run(tmp_path / "gen", "gsm8k", "fp", [[1, 0]] * 8, reward_column=reward_column)
    if reward_column:  # the column exists, all null
        table = pq.read_table(run / "samples.parquet")
        table = table.set_column(table.schema.get_field_index("reward_scores"), SAMPLE_SCHEMA.field("reward_scores"),
                                 pa.nulls(8, pa.list_(pa.float64())))
        pq.write_table(table, run / "samples.parquet")
    with pytest.raises(UsageError, match=r"gen \(task 'gsm8k'\) has no reward scores.*rewardbench, rewardbench-prior, "):
        build_rm_report([run])


def test_cli_prints_tables_and_writes_json(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["rm-report", str(runs["a"]), str(runs["c"]), "--json", str(out)])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())  # rich wraps at the terminal's width
    assert "accuracy (%) by |margin| quartile" in printed and "n/a (1)" in printed
    assert "(1) no pair has |margin| in (0, 0]: tied margins filled the quartile below" in printed
    data = json.loads(out.read_text())
    assert data["runs"][1]["buckets"][1]["accuracy"] == {
        "value": None, "n": 0, "ci": None, "reason": "no pair has |margin| in (0, 0]: tied margins filled the quartile below"}
    assert data["agreements"][0]["kappa"]["value"] == pytest.approx(8 / 29)
    refused = CliRunner().invoke(app, ["rm-report", str(runs["a"]), str(runs["a"])])
    assert refused.exit_code == 2 and "is given twice" in refused.output


def test_oracle_rewardbench_runs_end_to_end(tmp_path: Path) -> None:
    """The oracle scores the chosen 1 and the rejected 0: every margin is 1, so one bucket holds every pair."""
    write_v1(tmp_path / "v1")
    write_prior(tmp_path / "prior")
    v1 = evaluate("rewardbench", "oracle", data=tmp_path / "v1", runs_root=tmp_path / "runs", use_cache=False).run_dir
    prior = evaluate("rewardbench-prior", "oracle", data=tmp_path / "prior", runs_root=tmp_path / "runs",
                     use_cache=False).run_dir
    report = build_rm_report([v1, prior])
    run = report.runs[0]
    assert (run.accuracy.value, run.accuracy.n, run.headline.value, run.ties.value) == (1.0, 12, 1.0, 0.0)
    assert {name: figures["task_score"].value for name, figures in run.sections.items()} == {
        "Chat": 1.0, "Chat Hard": 1.0, "Reasoning": 1.0, "Safety": 1.0}
    assert accuracies(run.buckets) == [(1.0, 12), (None, 0), (None, 0), (None, 0)]
    assert (report.runs[1].headline_name, report.runs[1].headline.value) == ("Prior Sets", 1.0)
    [combined] = report.combined
    assert combined.overall.value == 1.0


def test_rewardbench_2_margins_count_every_correct_candidate(tmp_path: Path) -> None:
    """Ties rows list three correct candidates first (target 3): the oracle's 1, 1, 1, 0, 0 has margin 1, not a tie.

    The task's per-sample credit is the share of correct candidates among those tied at the top (v2's
    rule), so the `tied:` rows earn 1 as well, and so does the final score (Ties by its formula).
    """
    write_v2(tmp_path / "v2")
    v2 = evaluate("rewardbench-2", "oracle", data=tmp_path / "v2", runs_root=tmp_path / "runs", use_cache=False).run_dir
    [run] = build_rm_report([v2]).runs
    assert (run.accuracy.value, run.accuracy.n, run.ties.value, run.headline_name, run.headline.value) == (
        1.0, 14, 0.0, "final", 1.0)
    assert run.sections["Ties"]["task_score"].value == 1.0 and run.sections["Ties"]["pooled_accuracy"].n == 4
    assert accuracies(run.buckets)[0] == (1.0, 14)
