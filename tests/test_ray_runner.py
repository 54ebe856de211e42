"""`--runner ray`: the same records as the local runner, on a two-raylet cluster, through killed
workers and a killed driver; and the runner profiles that name clusters.

The cluster is real (`ray.cluster_utils.Cluster`: a head and one more raylet on this machine, one
CPU each, so each node runs one model replica). Each raylet's workers log the sample ids they
answer to a file of their own, so a test sees how the requests were shared out.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq
import pytest

from harness import evaluate
from harness.errors import RunInterrupted, UsageError
from harness.models.base import ModelSpec, load_model
from harness.registry import MODELS
from harness.runners import ray_worker
from harness.runners import scoring as scoring_stage
from harness.runners.select import open_source, profile_names
from harness.types import GenerationSettings, Message, Request, Response, Sample
from tests.sandbox_support import CRUXEVAL_X, require_language

ray = pytest.importorskip("ray")

TESTS = Path(__file__).resolve().parent
GSM8K = TESTS.parents[1] / "shared" / "data" / "gsm8k" / "test.jsonl"
MATH = TESTS.parents[1] / "shared" / "data" / "math"
NEEDS_GSM8K = pytest.mark.skipif(not GSM8K.is_file(), reason=f"GSM8K data not found at {GSM8K}")
LIMIT = 40
SCRIPTED = "scripted,chunk_size=4"
CLI = ("import sys; from harness.registry import MODELS; "
       "MODELS.register('scripted', 'scripted_models:ScriptedGSM8KModel'); "
       "from harness.cli import main; sys.argv[0] = 'harness'; main()")
NODE_MEMORY = 100 * 1024 * 1024


@dataclass
class LocalCluster:
    address: str
    logs: Path

    def calls(self) -> dict[str, list[str]]:
        """Sample ids each raylet's workers were asked for, since the last `forget_calls`."""
        return {log.stem: log.read_text().split() for log in self.logs.glob("*.log")}

    def forget_calls(self) -> None:
        for log in self.logs.glob("*.log"):
            log.unlink()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ray.cluster_utils import Cluster

    MODELS.register("scripted", "scripted_models:ScriptedGSM8KModel")
    logs = tmp_path_factory.mktemp("ray-calls")

    def node(name: str) -> dict[str, Any]:
        path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
        return {"num_cpus": 1, "object_store_memory": NODE_MEMORY,
                "env_vars": {"PYTHONPATH": path, "SCRIPTED_MODEL_LOG": str(logs / f"{name}.log")}}

    local = Cluster(initialize_head=True, head_node_args={**node("head"), "include_dashboard": False})
    try:
        local.add_node(**node("node"))
        local.wait_for_nodes()
        yield LocalCluster(local.address, logs)
    finally:
        local.shutdown()


def gsm8k(run_dir: Path, runner: str, model: str = SCRIPTED) -> dict[str, Any]:
    evaluate("gsm8k", model, data=GSM8K, limit=LIMIT, run_dir=run_dir, cache_dir=run_dir.parent / f"{run_dir.name}-cache",
             runner=runner)
    return outcome(run_dir)


def outcome(run_dir: Path) -> dict[str, Any]:
    """Everything a run reports: its records (sorted) and its metrics."""
    rows = pq.read_table(run_dir / "samples.parquet").to_pylist()
    return {"records": sorted(rows, key=lambda row: (row["id"], row["attempt"])),
            "metrics": json.loads((run_dir / "metrics.json").read_text())}


@pytest.fixture(scope="module")
def local_gsm8k(tmp_path_factory: pytest.TempPathFactory, cluster: LocalCluster) -> dict[str, Any]:
    """The local runner's run, the reference every Ray run must reproduce."""
    return gsm8k(tmp_path_factory.mktemp("local") / "run", "local")


def replica_pids() -> list[int]:
    """Model replicas (Ray actors) of clusters this test process started."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    found = []
    for pid in parents:
        try:
            title = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::ModelReplica") and ours(pid):
            found.append(pid)
    return found


def kill_replica_after(calls: Callable[[], int], count: int, killed: list[int]) -> threading.Thread:
    """A thread that SIGKILLs one model replica once `calls()` reaches `count`."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while calls() < count and time.monotonic() < deadline:
            time.sleep(0.02)
        pids = replica_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def answered(cluster: LocalCluster) -> int:
    return sum(len(ids) for ids in cluster.calls().values())


@NEEDS_GSM8K
def test_gsm8k_on_two_raylets_matches_the_local_runner(cluster: LocalCluster, local_gsm8k: dict[str, Any],
                                                       tmp_path: Path) -> None:
    cluster.forget_calls()
    assert gsm8k(tmp_path / "run", f"ray:{cluster.address}") == local_gsm8k
    calls = cluster.calls()
    assert calls.get("head") and calls.get("node"), f"both raylets should answer a share: {calls}"
    asked = calls["head"] + calls["node"]
    assert sorted(asked) == sorted(row["id"] for row in local_gsm8k["records"]), "each request asked once"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["counts"]["model_requests"] == LIMIT and manifest["timings"]["model_s"] > 0


@pytest.mark.skipif(not CRUXEVAL_X.is_dir(), reason=f"CRUXEval-X data not found at {CRUXEVAL_X}")
def test_cruxeval_x_in_four_languages_matches_the_local_runner(cluster: LocalCluster, tmp_path: Path) -> None:
    languages = ("py", "cpp", "java", "rb")
    for language in languages:
        require_language(language)

    def run(name: str, runner: str) -> dict[str, Any]:
        evaluate("cruxeval-x", "oracle", data=CRUXEVAL_X, limit=3, run_dir=tmp_path / name,
                 cache_dir=tmp_path / f"{name}-cache", task_args={"subsets": "+".join(languages)}, runner=runner)
        return outcome(tmp_path / name)

    local, sharded = run("local", "local"), run("ray", f"ray:{cluster.address}")
    assert sharded == local
    assert {row["subset"] for row in sharded["records"]} == {f"{lang}.{sub}" for lang in languages
                                                             for sub in ("input", "output")}
    assert all(dict(row["scores"])["pass@1[answer]"] == 1.0 for row in sharded["records"])


@pytest.mark.skipif(not MATH.is_dir(), reason=f"MATH data not found at {MATH}")
def test_math_graders_score_as_ray_tasks_as_they_do_in_the_driver(cluster: LocalCluster, tmp_path: Path) -> None:
    """MATH's graders (sympy under a time limit, math-verify) run in Ray workers' processes; each
    placement gives the local runner's records, and the driver-side placement is kept as an option."""
    def run(name: str, runner: str) -> dict[str, Any]:
        evaluate("math-500", "replay:" + str(replies), data=MATH, limit=12, run_dir=tmp_path / name,
                 cache_dir=tmp_path / f"{name}-cache", runner=runner)
        return outcome(tmp_path / name)

    evaluate("math-500", "oracle", data=MATH, limit=12, run_dir=tmp_path / "oracle", use_cache=False)
    rows = pq.read_table(tmp_path / "oracle" / "samples.parquet").to_pylist()
    replies = tmp_path / "replies.jsonl"  # a third right but unboxed, a third wrong, a third boxed
    replies.write_text("".join(json.dumps({"id": row["id"], "response": [
        f"The final answer is ${row['target']}$.", "The answer is $\\frac{1}{7}$.", row["response"]][index % 3]}) + "\n"
        for index, row in enumerate(rows)))
    local = run("local", "local")
    with pytest.MonkeyPatch.context() as patch:  # the driver cannot score: the workers' processes must
        def refuse(*args: Any) -> None:
            raise AssertionError("scored in the driver")
        patch.setattr(scoring_stage, "sample_records", refuse)
        patch.setattr(ray_worker, "sample_records", refuse)
        assert run("cluster", f"ray:{cluster.address}") == local
    assert run("driver", f"ray:{cluster.address},scoring=driver") == local
    scores = [value for row in local["records"] for value in dict(row["scores"]).values()]
    assert 0 < sum(scores) < len(scores), "the replies should score some right and some wrong"


@NEEDS_GSM8K
def test_a_killed_worker_is_restarted_and_the_run_gives_the_same_records(
        cluster: LocalCluster, local_gsm8k: dict[str, Any], tmp_path: Path) -> None:
    cluster.forget_calls()
    killed: list[int] = []
    watcher = kill_replica_after(lambda: answered(cluster), 12, killed)
    result = gsm8k(tmp_path / "run", f"ray:{cluster.address}", model=f"{SCRIPTED},delay=0.25")
    watcher.join()
    assert killed, "no model replica was found to kill"
    assert result == local_gsm8k
    asked = [id for ids in cluster.calls().values() for id in ids]
    assert len(asked) > len(set(asked)) == LIMIT, "the chunk the killed worker held should be asked again"


@NEEDS_GSM8K
def test_a_worker_lost_beyond_its_restarts_interrupts_the_run_which_resumes(
        cluster: LocalCluster, local_gsm8k: dict[str, Any], tmp_path: Path) -> None:
    cluster.forget_calls()
    killed: list[int] = []
    watcher = kill_replica_after(lambda: answered(cluster), 12, killed)
    with pytest.raises(RunInterrupted, match=r"every Ray worker was lost .*rerun with --run-dir"):
        gsm8k(tmp_path / "run", f"ray:{cluster.address},workers=1,restarts=0", model=f"{SCRIPTED},delay=0.25")
    watcher.join()
    assert killed and (tmp_path / "run" / "journal.jsonl").is_file()
    assert not (tmp_path / "run" / "samples.parquet").exists()
    assert gsm8k(tmp_path / "run", f"ray:{cluster.address}") == local_gsm8k


@NEEDS_GSM8K
def test_a_sigkilled_driver_resumes_from_its_journals(cluster: LocalCluster, local_gsm8k: dict[str, Any],
                                                      tmp_path: Path) -> None:
    run_dir = tmp_path / "run"

    def harness_run(model: str) -> subprocess.Popen:
        command = [sys.executable, "-c", CLI, "run", "--task", "gsm8k", "--model", model,
                   "--data", str(GSM8K), "--limit", str(LIMIT), "--run-dir", str(run_dir),
                   "--cache-dir", str(tmp_path / "cache"), "--runner", f"ray:{cluster.address}"]
        return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(TESTS)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def journaled() -> set[str]:
        journal = run_dir / "journal.jsonl"
        return {json.loads(line)["id"] for line in journal.read_text().splitlines()} if journal.exists() else set()

    cluster.forget_calls()
    # each of the two replicas answers 8 requests and then stalls: the journal stops at 16 of 40
    driver = harness_run(f"{SCRIPTED},stall_after=8")
    deadline = time.monotonic() + 90
    while len(journaled()) < 16 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done_before = journaled()
    assert len(done_before) == 16, "the kill must land midway, after both replicas stalled"

    cluster.forget_calls()
    resumed = harness_run(SCRIPTED)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert outcome(run_dir) == local_gsm8k
    asked_again = {id for ids in cluster.calls().values() for id in ids}
    assert not done_before & asked_again, "a sample scored before the kill was sent to the model again"


def test_requests_and_responses_cross_to_workers_intact() -> None:
    request = Request(kind="generate", sample_id="gsm8k/3", messages=(Message("user", "2+2?"),),
                      settings=GenerationSettings(stop=("\n\n",), seed=1), reference="4")
    response = Response(text="4", output_tokens=1, latency_s=0.5, finish_reason="stop")
    assert pickle.loads(pickle.dumps(request)) == request
    assert pickle.loads(pickle.dumps(request)).content_hash() == request.content_hash()
    assert pickle.loads(pickle.dumps(response)) == response


def test_a_model_object_cannot_run_on_ray() -> None:
    with pytest.raises(UsageError, match="needs a model spec string"):
        open_source("ray", load_model("oracle"), None)


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"pip install 'harness\[ray\]'"):
        open_source("ray", load_model("oracle"), ModelSpec("oracle", ""))


def test_an_address_nothing_listens_at_fails_in_seconds() -> None:
    source = open_source("ray:127.0.0.1:1", load_model("oracle"), ModelSpec("oracle", ""))
    with pytest.raises(UsageError, match="runner address '127.0.0.1:1': nothing answers there"):
        list(source.answer([(Sample("s/0", "s", 0, {}, "4"), Request("generate", "s/0", prompt="2+2?"))]))
    source.close()


def test_every_shipped_profile_builds_a_ray_source() -> None:
    assert {"ray-local", "ray-cluster", "slurm", "kuberay"} <= set(profile_names())
    for name in profile_names():
        source = open_source(name, load_model("oracle"), ModelSpec("oracle", ""))
        assert type(source).__name__ == "RaySource", name
    local = open_source("ray-local", load_model("oracle"), ModelSpec("oracle", ""))
    assert (local.address, local.workers, local.num_cpus, local.num_gpus) == (None, 2, 1, 0)
    overridden = open_source("ray-cluster:10.0.0.1:6379,workers=3", load_model("oracle"), ModelSpec("oracle", ""))
    assert (overridden.address, overridden.workers) == ("10.0.0.1:6379", 3)


def test_a_profile_file_names_a_runner_and_its_options(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text("runner: ray\naddress: auto\nworkers: 5\nruntime_env: {env_vars: {A: b}}\n")
    source = open_source(str(profile), load_model("oracle"), ModelSpec("oracle", ""))
    assert (source.address, source.workers, source.runtime_env) == ("auto", 5, {"env_vars": {"A": "b"}})
    profile.write_text("runner: ray\nworker: 5\n")
    with pytest.raises(UsageError, match="bad options"):
        open_source(str(profile), load_model("oracle"), ModelSpec("oracle", ""))
    profile.write_text("runner: ray:10.0.0.1:6379\n")
    with pytest.raises(UsageError, match="put a cluster address under `address:`"):
        open_source(str(profile), load_model("oracle"), ModelSpec("oracle", ""))


def test_an_unknown_runner_lists_runners_and_profiles() -> None:
    with pytest.raises(UsageError, match=r"unknown runner 'rey'.*local, ray.*ray-local"):
        open_source("rey", load_model("oracle"), ModelSpec("oracle", ""))
    with pytest.raises(UsageError, match="takes no options"):
        open_source("local,workers=2", load_model("oracle"), ModelSpec("oracle", ""))
