"""`harness compare`, `harness gate` and `harness baseline save` on real runs.

The acceptance cases run CRUXEval-X Python in the sandbox: 3% of py.output answers broken makes
the gate exit 1 and name py.output; 2 answers worse and 1 better exits 0. The rest use GSM8K
(bundled sample data, or the shared data with --limit), which needs no sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from harness import evaluate
from harness.assets import asset_dir
from harness.cli import app
from harness.report.compare import compare_paths
from harness.report.runs import PROMPT_HASH, load_run, prompt_sha256
from tests.sandbox_support import CRUXEVAL_X, require_language

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
STRICT = "exact_match[strict-match]"
ANSWER = "pass@1[answer]"


def run(folder: Path, task: str, model: str, **options: Any) -> Path:
    """A finished run in `folder`; the response cache is off, the execution cache lives in the test's tmp dir."""
    return evaluate(task, model, run_dir=folder, use_cache=False, cache_dir=folder.parent / "cache", **options).run_dir


def responses(run_dir: Path) -> dict[str, str]:
    table = pq.read_table(run_dir / "samples.parquet", columns=["id", "response"])
    return dict(zip(table["id"].to_pylist(), table["response"].to_pylist()))


def replay(path: Path, answers: dict[str, str]) -> str:
    path.write_text("".join(json.dumps({"id": key, "response": text}) + "\n" for key, text in answers.items()))
    return f"replay:{path}"


def harness(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def gate(base: Path, new: Path, *options: str | Path) -> Result:
    return harness("gate", "--baseline", base, "--candidate", new, *options)


def gsm8k_wrong(answers: dict[str, str], ids: list[str]) -> dict[str, str]:
    """The oracle's "#### N" answers with the given ones replaced by "#### N+1"."""
    wrong = {key: f"#### {int(answers[key].split()[-1].replace(',', '')) + 1}" for key in ids}
    return {**answers, **wrong}


@pytest.fixture(scope="module")
def sample_oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("gsm8k") / "oracle", "gsm8k", "oracle", sample_data=True)


def test_fail_on_change_catches_a_single_flipped_sample(sample_oracle: Path, tmp_path: Path) -> None:
    answers = responses(sample_oracle)
    same = run(tmp_path / "same", "gsm8k", replay(tmp_path / "same.jsonl", answers), sample_data=True)
    flipped = run(tmp_path / "flip", "gsm8k", replay(tmp_path / "flip.jsonl", gsm8k_wrong(answers, ["3"])), sample_data=True)
    assert gate(sample_oracle, same, "--fail-on-change").exit_code == 0  # another model, identical scores
    # A 10-point drop on 10 samples with one discordant pair is noise (McNemar p = 1): the plain gate passes.
    assert gate(sample_oracle, flipped, "--max-drop", "0").exit_code == 0
    checked = gate(sample_oracle, flipped, "--fail-on-change")
    assert checked.exit_code == 1, checked.output
    assert f"{STRICT} main 3 (attempt 0): 1 -> 0" in checked.output
    assert "metrics.exact_match[strict-match].value: 1.0 -> 0.9" in checked.output


def test_unscored_samples_are_left_out_of_the_test_and_counted(sample_oracle: Path, tmp_path: Path) -> None:
    answers = responses(sample_oracle)
    del answers["5"]
    partial = run(tmp_path / "partial", "gsm8k", replay(tmp_path / "partial.jsonl", answers), sample_data=True)
    comparison = compare_paths(sample_oracle, partial)
    [row] = [row for row in comparison.rows if row.label == STRICT]
    assert (row.subset, row.n, row.unscored, row.base, row.new, row.p_value) == ("main", 9, 1, 1.0, 1.0, 1.0)
    assert [(sample.id, sample.new) for sample in comparison.changed if sample.label == STRICT] == [("5", pytest.approx(float("nan"), nan_ok=True))]
    assert gate(sample_oracle, partial).exit_code == 0
    assert gate(sample_oracle, partial, "--fail-on-change").exit_code == 1


def edited_task(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the gsm8k task folder with one edit, as a --tasks-dir."""
    folder = tmp_path / "tasks"
    shutil.copytree(asset_dir("tasks") / "gsm8k", folder / "gsm8k")
    path = folder / "gsm8k" / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    return folder


def test_task_version_change_is_unusable_input(sample_oracle: Path, tmp_path: Path) -> None:
    tasks = edited_task(tmp_path, "task.yaml", 'version: "1.0"', 'version: "1.1"')
    bumped = run(tmp_path / "bumped", "gsm8k", "oracle", sample_data=True, tasks_dirs=[tasks])
    result = gate(sample_oracle, bumped, "--summary", tmp_path / "summary.md")
    assert result.exit_code == 2 and "task version changed (1.0 -> 1.1)" in result.output
    assert "UNUSABLE INPUT" in (tmp_path / "summary.md").read_text()
    assert harness("compare", sample_oracle, bumped).exit_code == 2


def test_changed_prompt_is_flagged_and_not_compared(sample_oracle: Path, tmp_path: Path) -> None:
    tasks = edited_task(tmp_path, "prompts/plain.j2", "Question:", "Q:")
    reworded = run(tmp_path / "reworded", "gsm8k", "oracle", sample_data=True, tasks_dirs=[tasks])
    comparison = compare_paths(sample_oracle, reworded)
    assert comparison.prompt_changed == ["main"] and comparison.rows == []
    result = gate(sample_oracle, reworded)
    assert result.exit_code == 2 and "prompt changed in subset main" in result.output


def test_task_file_edit_with_identical_prompts_is_only_a_warning(sample_oracle: Path, tmp_path: Path) -> None:
    tasks = edited_task(tmp_path, "README.md", "GSM8K", "GSM8K (edited)")
    edited = run(tmp_path / "edited", "gsm8k", "oracle", sample_data=True, tasks_dirs=[tasks])
    assert load_run(edited).task_hash != load_run(sample_oracle).task_hash
    result = gate(sample_oracle, edited, "--fail-on-change", "--summary", tmp_path / "summary.md")
    assert result.exit_code == 0, result.output
    assert "task files changed" in (tmp_path / "summary.md").read_text()


def test_slim_baseline_drops_text_keeps_prompt_hashes_and_gates_like_the_run(sample_oracle: Path, tmp_path: Path) -> None:
    saved = harness("baseline", "save", sample_oracle, tmp_path / "baseline")
    assert saved.exit_code == 0, saved.output
    slim = pq.read_table(tmp_path / "baseline" / "samples.parquet")
    full = pq.read_table(sample_oracle / "samples.parquet").sort_by("id")
    assert "prompt" not in slim.column_names and "response" not in slim.column_names
    assert slim[PROMPT_HASH].to_pylist() == prompt_sha256(full["prompt"]).to_pylist()
    assert gate(tmp_path / "baseline", sample_oracle, "--fail-on-change").exit_code == 0
    assert harness("compare", tmp_path / "baseline", sample_oracle).exit_code == 0


@pytest.mark.parametrize("name", ["gsm8k-oracle", "gsm8k-replay", "cruxeval-x-oracle", "cruxeval-x-replay"])
def test_committed_self_gate_baselines_are_slim_finished_runs(name: str) -> None:
    """scripts/self-gate compares against these; they must load as runs and hold no prompt or response text."""
    baseline = Path(__file__).resolve().parent / "baselines" / name
    columns = pq.read_schema(baseline / "samples.parquet").names
    assert PROMPT_HASH in columns and "prompt" not in columns and "response" not in columns
    assert load_run(baseline).metrics["metrics"]
    assert gate(baseline, baseline, "--fail-on-change").exit_code == 0


def test_unusable_inputs_exit_2_and_say_why(sample_oracle: Path, tmp_path: Path) -> None:
    cot = run(tmp_path / "runs" / "cot", "gsm8k:cot", "oracle", sample_data=True)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(sample_oracle, unfinished)
    manifest = json.loads((unfinished / "manifest.json").read_text())
    (unfinished / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    cases = [(sample_oracle, tmp_path / "missing", "does not exist"),
             (sample_oracle, unfinished, "has not finished"),
             (sample_oracle, cot, "different tasks"),
             (sample_oracle, tmp_path / "runs", "different tasks")]
    for base, new, message in cases:
        result = gate(base, new)
        assert result.exit_code == 2 and message in result.output, (new, result.output)
    shutil.copytree(sample_oracle, tmp_path / "runs" / "plain")
    (tmp_path / "base").mkdir()
    shutil.copytree(sample_oracle, tmp_path / "base" / "plain")
    result = gate(tmp_path / "base", tmp_path / "runs")
    assert result.exit_code == 2 and "gsm8k:cot has no baseline run" in result.output


def test_folders_of_runs_are_matched_by_task(sample_oracle: Path, tmp_path: Path) -> None:
    for side in ("base", "new"):
        shutil.copytree(sample_oracle, tmp_path / side / "a-plain")
        run(tmp_path / side / f"{side}-cot", "gsm8k:cot", "oracle", sample_data=True)
    result = gate(tmp_path / "base", tmp_path / "new", "--fail-on-change", "--summary", tmp_path / "summary.md")
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "summary.md").read_text()
    assert "| gsm8k | `exact_match[strict-match]` | main |" in summary
    assert "| gsm8k:cot | `exact_match[strict-match]` | main |" in summary


def test_holm_keeps_a_borderline_drop_over_three_metrics_from_failing(tmp_path: Path) -> None:
    if not GSM8K.is_dir():
        pytest.skip(f"GSM8K data not found at {GSM8K}")
    oracle = run(tmp_path / "oracle", "gsm8k", "oracle", data=GSM8K, limit=400)
    answers = responses(oracle)
    six_wrong = run(tmp_path / "six", "gsm8k", replay(tmp_path / "six.jsonl", gsm8k_wrong(answers, list(answers)[:6])),
                    data=GSM8K, limit=400)
    # -1.5 points on 400, McNemar p = 2 * 0.5^6 = 0.031 per metric; Holm over 3 metrics: 0.094.
    held = gate(oracle, six_wrong)
    assert held.exit_code == 0, held.output
    fired = gate(oracle, six_wrong, "--correction", "none")
    assert fired.exit_code == 1 and "gsm8k main" in fired.output
    only_one = gate(oracle, six_wrong, "--metric", STRICT)  # one comparison: nothing to correct for
    assert only_one.exit_code == 1, only_one.output
    assert gate(oracle, six_wrong, "--metric", "nope").exit_code == 2


@pytest.fixture(scope="module")
def cruxeval_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Python, 400 per subset: the oracle, 12 py.output answers (3%) wrong, and that plus noise (2 worse, 1 better)."""
    if not CRUXEVAL_X.is_dir():
        pytest.skip(f"CRUXEval-X data not found at {CRUXEVAL_X}")
    require_language("py")
    folder = tmp_path_factory.mktemp("cruxeval-x")
    options = {"data": CRUXEVAL_X, "limit": 400, "task_args": {"subsets": "py"}}
    oracle = run(folder / "oracle", "cruxeval-x", "oracle", **options)
    answers = responses(oracle)
    outputs = sorted((key for key in answers if key.startswith("py/output/")), key=lambda key: int(key.split("/")[2]))

    def broken(keys: list[str]) -> dict[str, str]:
        """Each answer replaced by the next output answer that differs from it: a plausible wrong value."""
        wrong = {}
        for key in keys:
            start = outputs.index(key)
            wrong[key] = next(answers[other] for other in outputs[start + 1:] + outputs[:start]
                              if answers[other].strip() != answers[key].strip())
        return {**answers, **wrong}

    regressed = broken(outputs[:12])
    noisy = {**broken(outputs[1:14]), outputs[0]: answers[outputs[0]]}  # 1 of the 12 fixed, 2 more broken
    return {"oracle": oracle,
            "regressed": run(folder / "regressed", "cruxeval-x", replay(folder / "regressed.jsonl", regressed), **options),
            "noisy": run(folder / "noisy", "cruxeval-x", replay(folder / "noisy.jsonl", noisy), **options)}


def subset_value(run_dir: Path, subset: str) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["subsets"][subset][ANSWER]["value"]


def test_three_points_fewer_on_one_language_fails_the_gate_and_names_it(cruxeval_runs: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    oracle, regressed = cruxeval_runs["oracle"], cruxeval_runs["regressed"]
    assert (subset_value(oracle, "py.output"), subset_value(regressed, "py.output")) == (1.0, 388 / 400)
    summary = tmp_path / "summary.md"
    result = gate(oracle, regressed, "--max-drop", "1.0", "--alpha", "0.05", "--summary", summary)
    assert result.exit_code == 1, result.output
    assert "cruxeval-x pass@1[answer] py.output: 100.00 -> 97.00 (-3.00 points" in result.output
    assert "py.input:" not in result.output
    text = summary.read_text()
    assert text.startswith("## Regression gate: :x: FAIL") and "`pass@1[answer]` **py.output** (-3.00 pts)" in text
    assert "| :x: | cruxeval-x | `pass@1[answer]` | py.output | 100.00 | 97.00 | -3.00 | 400 |" in text
    assert "`py/output/" in text  # flipped samples are listed


def test_noise_below_significance_passes_the_gate(cruxeval_runs: dict[str, Path]) -> None:
    base, noisy = cruxeval_runs["regressed"], cruxeval_runs["noisy"]
    comparison = compare_paths(base, noisy, [ANSWER])
    [row] = [row for row in comparison.rows if row.subset == "py.output"]
    assert (row.mcnemar.worse, row.mcnemar.better, row.p_value) == (2, 1, 1.0)  # type: ignore[union-attr]
    assert gate(base, noisy).exit_code == 0
    assert gate(base, noisy, "--max-drop", "0").exit_code == 0  # beyond the threshold, still noise
    assert gate(base, noisy, "--fail-on-change").exit_code == 1


def test_a_subset_with_changed_prompts_is_left_out_and_the_rest_compared(cruxeval_runs: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    assert harness("baseline", "save", cruxeval_runs["oracle"], tmp_path / "baseline").exit_code == 0
    samples = tmp_path / "baseline" / "samples.parquet"
    table = pq.read_table(samples)
    hashes = pc.if_else(pc.equal(table["subset"], "py.input"), pa.scalar("0" * 64), table[PROMPT_HASH])
    pq.write_table(table.set_column(table.column_names.index(PROMPT_HASH), PROMPT_HASH, hashes), samples)
    comparison = compare_paths(tmp_path / "baseline", cruxeval_runs["regressed"])
    assert comparison.prompt_changed == ["py.input"]
    assert {row.subset for row in comparison.rows} == {"py.output"}
    result = gate(tmp_path / "baseline", cruxeval_runs["regressed"])
    assert result.exit_code == 1 and "prompt changed in subset py.input" in result.output
