"""Our GSM8K prompts equal lm-eval's, character for character, for the same few-shot seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tasks import Task, load_task
from harness.tasks.task import apply_task_args

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
LMEVAL_TASK = """task: gsm8k_local{suffix}
include: {base}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{train: {data}/train.jsonl, test: {data}/test.jsonl}}
"""


def lmeval_prompts(tmp_path: Path, base_yaml: str, suffix: str, limit: int) -> list[str]:
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is a dev dependency: pip install -e '.[dev]'")
    from lm_eval.tasks import TaskManager

    base = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / base_yaml
    (tmp_path / f"local{suffix}.yaml").write_text(LMEVAL_TASK.format(suffix=suffix, base=base, data=DATA))
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    task = manager.load([f"gsm8k_local{suffix}"])["tasks"][f"gsm8k_local{suffix}"]
    task.set_fewshot_seed(seed=1234)
    task.build_all_requests(limit=limit, rank=0, world_size=1)
    return [instance.args[0] for instance in sorted(task.instances, key=lambda i: i.doc_id)]


@pytest.mark.skipif(not (DATA / "test.jsonl").is_file(), reason=f"GSM8K data not found at {DATA}")
@pytest.mark.parametrize(("variant", "base_yaml"), [("plain", "gsm8k.yaml"), ("cot", "gsm8k-cot.yaml")])
def test_prompts_equal_lm_eval(tmp_path: Path, variant: str, base_yaml: str) -> None:
    expected = lmeval_prompts(tmp_path, base_yaml, variant, limit=20)
    spec, own = apply_task_args(load_task("gsm8k", variant=variant), {})
    task = Task(spec, own, DATA / "test.jsonl")
    ours = [task.requests(sample, examples, seed=0)[0].prompt for sample, examples in task.samples(limit=20)]
    assert len(expected) == 20 and all(len(prompt) > 500 for prompt in expected)
    assert ours == expected
