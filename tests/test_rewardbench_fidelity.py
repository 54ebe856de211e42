"""Our RewardBench numbers equal the official `rewardbench` package's on the same per-sample outcomes.

The package (PyPI `rewardbench`, test-only) pins transformers==4.51.0 and imports fastchat, trl
and every custom reward model at import time, so it cannot be imported beside our stack. The
test downloads the wheel (no dependencies), reads the scoring functions' source out of it and
runs that source unchanged: `calculate_scores_per_section`, `reroll_and_score_dataset`,
`sample_stats`, `process_single_model`, and `EXAMPLE_COUNTS` / `SUBSET_MAPPING`. The overall
score's formula lives in the repo's analysis scripts, not in the package; it is written out
here from `analysis/get_benchmark_results.py` (np.ma.average, weights [2,2,2,2,1]).
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import warnings
import zipfile
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset

from harness.scoring.reward import reward_accuracy
from harness.scoring.rewardbench import PRIOR_SETS, V1_EXAMPLE_COUNTS, V1_SECTIONS
from harness.tasks.packages import import_task_module
from harness.types import Sample

ties_score = import_task_module("rewardbench-2", "scores").ties_score

PACKAGE = "rewardbench==0.1.4"  # the newest on PyPI (0.1.5 is the repo's version, not published)
FUNCTIONS = {"calculate_scores_per_section", "reroll_and_score_dataset", "sample_stats", "process_single_model"}


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("rewardbench-wheel")
    download = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), PACKAGE],
                              capture_output=True, text=True, timeout=300)
    wheels = list(folder.glob("rewardbench-*.whl"))
    if download.returncode != 0 or not wheels:
        pytest.skip(f"cannot download {PACKAGE} from PyPI (offline?): {download.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        utils = wheel.read("rewardbench/utils.py").decode()
        constants = wheel.read("rewardbench/constants.py").decode()
    namespace: dict[str, Any] = {"np": np, "pd": pd, "math": math, "Dataset": Dataset}
    exec(compile(constants, "rewardbench/constants.py", "exec"), namespace)
    tree = ast.parse(utils)
    chosen = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in FUNCTIONS]
    assert {node.name for node in chosen} == FUNCTIONS, "the package's scoring functions moved"
    exec(compile(ast.Module(body=chosen, type_ignores=[]), "rewardbench/utils.py", "exec"), namespace)
    return SimpleNamespace(**namespace)


def _record(subset: str, accuracy: float, **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(groups={"subset": subset}, scores={"accuracy": accuracy}, **extra)


def test_our_subset_counts_and_sections_are_the_official_constants(official) -> None:
    assert V1_EXAMPLE_COUNTS == official.EXAMPLE_COUNTS
    assert {name: list(subsets) for name, subsets in V1_SECTIONS.items()} == official.SUBSET_MAPPING


def test_v1_sections_and_overall_equal_the_official_on_random_outcome_tables(official) -> None:
    summarise = import_task_module("rewardbench", "scorer").summarise
    rng = np.random.default_rng(0)
    for trial in range(200):
        records, outcomes = [], {}
        core = list(V1_EXAMPLE_COUNTS)
        dropped = set(rng.choice(core, size=rng.integers(0, 6), replace=False)) if trial % 2 else set()
        prior = [s for s in PRIOR_SETS if rng.random() < 0.5] if trial % 3 else []
        for subset in [s for s in core if s not in dropped] + prior:
            values = rng.integers(0, 2, size=rng.integers(1, 12)).astype(float)
            outcomes[subset] = values.sum() / len(values)  # run_rm.py: num_correct / num_total
            records += [_record(subset, value) for value in values]
        ours = summarise(records, {}, 0)
        expected = official.calculate_scores_per_section(official.EXAMPLE_COUNTS, official.SUBSET_MAPPING, outcomes)
        prior_values = [outcomes[s] for s in PRIOR_SETS if s in outcomes]
        expected_prior = np.nanmean(prior_values) if prior_values else np.nan
        present = {s for s in core if s in outcomes}
        for section, subsets in V1_SECTIONS.items():
            if present & set(subsets):
                assert ours["sections"][section] == pytest.approx(expected[section], abs=1e-12)
            else:  # official: 0 for a section without data; ours: not measured
                assert expected[section] == 0 and ours["sections"][section] is None
        values = [expected[s] for s in V1_SECTIONS] + [expected_prior]
        overall = np.ma.average(np.ma.masked_invalid(values), weights=[2, 2, 2, 2, 1])
        if all(present & set(subsets) for subsets in V1_SECTIONS.values()):
            assert ours["overall"] == pytest.approx(float(overall), abs=1e-12)
        else:
            assert ours["overall"] is None


def test_v2_per_sample_credit_equals_reroll_and_score_dataset(official) -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(2, 7, size=300).tolist()
    rows = [{"text": f"t{i}", "scores": float(rng.integers(0, 3)), "prompt": f"p{g}"}
            for g, size in enumerate(sizes) for i in range(size)]
    rerolled = official.reroll_and_score_dataset(Dataset.from_list(rows), sizes)
    for g, (size, row) in enumerate(zip(sizes, rerolled)):
        sample = Sample(id=str(g), subset="x", index=g, data={}, target="1")
        assert reward_accuracy(tuple(row["scores"]), sample, size, ties="split") == pytest.approx(row["results"], abs=1e-12)


def _ties_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for prompt in range(int(rng.integers(1, 15))):
        for kind in ("ref", "tied"):
            if rng.random() < 0.15:
                continue  # a prompt with only one of its two rows
            correct, wrong = int(rng.integers(1, 5)), int(rng.integers(1, 4))
            rows.append({"id": f"{kind}:{prompt}", "num_correct": correct,
                         "scores": [float(x) for x in rng.integers(-4, 5, size=correct + wrong)]})
    return rows


def test_ties_score_equals_process_single_model_on_random_score_tables(official) -> None:
    rng = np.random.default_rng(2)
    compared = 0
    for _ in range(300):
        rows = _ties_rows(rng)
        if not rows:
            continue
        dataset = Dataset.from_dict({key: [row[key] for row in rows] for key in ("id", "num_correct", "scores")})
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # np.mean of an empty list: NaN, as asserted below
            _, expected = official.process_single_model(dataset)
        ours = ties_score((row["id"], row["num_correct"], row["scores"]) for row in rows)
        if math.isnan(expected):
            assert ours is None
        else:
            assert ours == pytest.approx(expected, abs=1e-12)
            compared += 1
    assert compared > 250


def test_rewardbench_2_summary_equals_the_official_domain_scores_and_final(official) -> None:
    summarise = import_task_module("rewardbench-2", "scorer").summarise
    rng = np.random.default_rng(3)
    records, expected = [], {}
    for domain in ("Factuality", "Precise IF", "Math", "Safety", "Focus"):
        credits = [reward_accuracy(tuple(float(x) for x in rng.integers(0, 3, size=4)), Sample("s", "x", 0, {}, "1"), 4,
                                   ties="split") for _ in range(int(rng.integers(3, 20)))]
        expected[domain] = sum(credits) / len(credits)
        records += [_record(domain, value) for value in credits]
    ties = _ties_rows(np.random.default_rng(4))
    dataset = Dataset.from_dict({key: [row[key] for row in ties] for key in ("id", "num_correct", "scores")})
    expected["Ties"] = official.process_single_model(dataset)[1]
    records += [_record("Ties", 0.0, id=row["id"], target=str(row["num_correct"]), reward_scores=tuple(row["scores"]))
                for row in ties]
    summary = summarise(records, {}, 0)
    for domain, value in expected.items():
        assert summary["domains"][domain] == pytest.approx(value, abs=1e-12)
    assert summary["final"] == pytest.approx(float(np.mean(list(expected.values()))), abs=1e-12)
