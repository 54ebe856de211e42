"""`--runner ray`: a run's requests sharded over model replicas on a Ray cluster.

Each worker is a Ray actor holding its own replica of the model (one hf: model, one vLLM engine:
data parallel), built from the run's model spec. The driver cuts the requests into chunks of the
model's `chunk_size`, keeps every worker two chunks deep, and hands answers on as `ray.wait`
returns them, so a slow worker holds back only its own chunks. Scoring batches run as Ray tasks
on any node (`scoring=cluster`, the default) or in the driver (`scoring=driver`). The driver
keeps everything that must survive a crash (the journals and the response cache, written by the
local runner before anything is scored, and the scored records each task returns); workers hold
nothing but their model, so losing one loses at most the chunks it was answering.

Failures: Ray restarts a killed worker (`restarts` times) and re-runs the chunks it held; a worker
lost beyond that is dropped and its chunks go to the others. With no worker left, or a chunk
lost more than `restarts` times, the run stops with RunInterrupted: what was answered is saved,
and the same command with the same --run-dir resumes.

Ray is an optional extra, imported only when this runner is chosen.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from harness.errors import RunInterrupted, UsageError
from harness.models.base import Model, ModelSpec
from harness.registry import MODELS
from harness.runners.generation import Answered, Pending, generation_order
from harness.runners.ray_worker import ModelReplica, score_on_worker
from harness.runners.scoring import Scorable, score_here
from harness.types import SampleRecord

if TYPE_CHECKING:
    from harness.tasks.task import Task

CHUNKS_PER_WORKER = 2  # one being answered, one waiting, so a worker never idles on the driver
CONNECT_TIMEOUT_S = 10
SCORING_PLACES = ("cluster", "driver")
SCORING_BATCHES_PER_NODE = 2  # in flight per node: one scoring, one waiting


@dataclass
class _Chunk:
    """Consecutive requests in generation order; `losses` counts the workers that died holding it."""

    pending: list[Pending]
    losses: int = 0


@dataclass
class _Worker:
    actor: Any
    label: str
    in_flight: int = 0


@dataclass
class _Shards:
    """The dispatch state: chunks not yet sent, and which worker holds each chunk in flight."""

    waiting: deque[_Chunk]
    workers: list[_Worker]
    in_flight: dict[Any, tuple[_Worker, _Chunk]] = field(default_factory=dict)


def import_ray() -> Any:
    """The `ray` module, or a UsageError naming the extra that provides it."""
    try:
        import ray
    except ModuleNotFoundError as error:
        if error.name != "ray":
            raise
        raise UsageError("--runner ray needs Ray, an optional extra: pip install 'harness[ray]' "
                         "(the same Ray version as the cluster's)") from error
    return ray


class RaySource:
    """Answers a run's requests on `workers` Ray actors, each holding a replica of the model.

    `address` names an existing cluster (`auto`, `HOST:PORT`, `ray://HOST:10001`); without one,
    a local Ray instance is started (or the cluster in $RAY_ADDRESS joined). `workers` defaults
    to as many as the cluster's CPUs (GPUs, when `num_gpus` > 0) allow at `num_cpus`/`num_gpus`
    each; `num_gpus` defaults to 1 on a cluster with GPUs, else 0. `runtime_env` is Ray's (e.g.
    `{"env_vars": {"PYTHONPATH": ...}}` so workers import a plugin backend).

    `scoring=cluster` scores batches as Ray tasks spread over the nodes, each reserving
    `scoring_cpus` CPUs (0 by default: they run beside the replicas, which on a GPU cluster leave
    the CPUs idle); `scoring=driver` scores in the driver, as the local runner does.
    """

    def __init__(self, model: Model, model_spec: ModelSpec | None, address: str | None = None,
                 workers: int | None = None, num_cpus: float = 1, num_gpus: float | None = None,
                 restarts: int = 3, runtime_env: dict[str, Any] | None = None, scoring: str = "cluster",
                 scoring_cpus: float = 0) -> None:
        if model_spec is None:
            raise UsageError("--runner ray needs a model spec string (e.g. evaluate(task, 'hf:gpt2', "
                             "runner='ray')), not a Model object: each worker builds its own replica from the spec")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise UsageError(f"runner option workers={workers!r}: give a positive whole number of workers")
        if not isinstance(restarts, int) or restarts < 0:
            raise UsageError(f"runner option restarts={restarts!r}: give a whole number >= 0")
        if scoring not in SCORING_PLACES:
            raise UsageError(f"runner option scoring={scoring!r}: use {' or '.join(SCORING_PLACES)}")
        if num_cpus < 0 or scoring_cpus < 0 or (num_gpus is not None and num_gpus < 0):
            raise UsageError(f"runner options num_cpus={num_cpus}, num_gpus={num_gpus}: resources cannot be negative")
        self._ray = import_ray()
        self.model = model
        self.model_spec = model_spec
        self.address = address
        self.workers = workers
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.restarts = restarts
        self.runtime_env = runtime_env
        self.scoring = scoring
        self.scoring_cpus = scoring_cpus
        self.model_s = 0.0
        self._scoring: list[Any] = []
        self._actors: list[Any] = []
        self._shards: _Shards | None = None
        self._connected_here = False
        self._connecting = threading.Lock()

    def answer(self, pending: Sequence[Pending]) -> Iterator[list[Answered]]:
        """Connect, start the workers, and yield each chunk's answers as its worker finishes it.

        Nothing starts before the first request: a resumed run whose answers are all journaled
        or cached loads no replica."""
        if not pending:
            return
        self._connect()
        ordered = generation_order(pending)
        count = min(self._worker_count(), len(ordered))
        size = max(1, min(int(self.model.chunk_size), math.ceil(len(ordered) / count)))
        waiting = deque(_Chunk(ordered[start:start + size]) for start in range(0, len(ordered), size))
        self._shards = _Shards(waiting, self._start_workers(count))
        yield from self._dispatch(self._shards)

    def records(self, task: Task, batches: Iterable[list[Scorable]]) -> Iterator[list[SampleRecord]]:
        """Score each batch as a Ray task on any node, yielding records as tasks finish; a few
        batches per node are kept in flight, so scoring keeps up with generation without
        flooding the object store. Ray re-runs a task whose worker died (`restarts` times)."""
        if self.scoring == "driver":
            yield from score_here(task, batches)
            return
        ray = self._ray
        remote = None
        try:
            for batch in batches:
                if not batch:  # a tick: hand on what finished while the model is slow
                    yield from self._scored(block=False)
                    continue
                if remote is None:
                    self._connect()
                    remote = ray.remote(score_on_worker).options(
                        num_cpus=self.scoring_cpus, max_retries=self.restarts, scheduling_strategy="SPREAD",
                        runtime_env=self.runtime_env)
                    task_pickle = ray.put(ray.cloudpickle.dumps(task))
                    depth = SCORING_BATCHES_PER_NODE * max(1, sum(node["Alive"] for node in ray.nodes()))
                self._scoring.append(remote.remote(str(task.spec.directory), task_pickle, batch))
                yield from self._scored(block=len(self._scoring) >= depth)
        except Exception:
            # generation stopped (a lost worker, a model error): what was sent is still scored
            # and kept, as a local run keeps what it scored before the error
            while self._scoring:
                yield from self._scored(block=True)
            raise
        while self._scoring:
            yield from self._scored(block=True)

    def _scored(self, block: bool) -> Iterator[list[SampleRecord]]:
        """Records of the scoring tasks that have finished (at least one when `block`)."""
        ray = self._ray
        if not self._scoring:
            return
        ready, self._scoring = ray.wait(self._scoring, num_returns=1 if block else len(self._scoring),
                                        timeout=None if block else 0)
        for ref in ready:
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                raise _remote_error(error)
            except ray.exceptions.RayError as error:  # its worker or node lost more than `restarts` times
                raise RunInterrupted(f"a scoring batch was lost on the Ray cluster (restarts={self.restarts}): "
                                     f"{_first_line(error)}") from error

    def close(self) -> None:
        """Stop the workers (their replicas free the GPUs) and leave a Ray instance we started."""
        abandoned = list(self._shards.in_flight) if self._shards is not None else []
        for ref in self._scoring:  # a run that stopped early (an error, ^C) needs none of them
            self._ray.cancel(ref)
        abandoned += self._scoring
        self._scoring = []
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # already gone with its node or the cluster: nothing left to stop
                pass
        self._actors, self._shards = [], None
        if abandoned:
            self._read_quietly(abandoned)
        if self._connected_here:
            self._ray.shutdown()
            self._connected_here = False

    def _read_quietly(self, refs: list[Any]) -> None:
        """Read the results of chunks still in flight when a run stopped early. Ray prints a result
        nobody read, when it is dropped, as an "Unhandled error" with its traceback; reading them
        lets a failed run end on its own one-line message."""
        ray = self._ray
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=CONNECT_TIMEOUT_S)
        for ref in ready:
            try:
                ray.get(ref)
            except Exception:  # the chunk's error or the killed worker's, both already reported
                pass

    def _connect(self) -> None:
        """Join the cluster once. The generation thread (first answers) and the main thread (first
        scoring batch, which comes at once from journaled answers of a resumed run) may both get
        here first, and a second `ray.init` while the first is under way fails."""
        with self._connecting:
            ray = self._ray
            if ray.is_initialized():
                return
            if self.address not in (None, "auto"):
                _check_reachable(self.address)
            try:
                ray.init(address=self.address, logging_level=logging.ERROR, include_dashboard=False)
            except ConnectionError as error:
                raise UsageError(f"runner address {self.address!r}: no Ray cluster found ({error}); start one "
                                 "(`ray start --head`) or fix the address") from error
            self._connected_here = True

    def _worker_count(self) -> int:
        """`workers`, checked against what the cluster holds, or as many as it holds."""
        resources = self._ray.cluster_resources()
        if self.num_gpus is None:
            self.num_gpus = 1 if resources.get("GPU", 0) > 0 else 0
        needs = {kind: amount for kind, amount in (("CPU", self.num_cpus), ("GPU", self.num_gpus)) if amount > 0}
        if not needs:
            if self.workers is None:
                raise UsageError("runner options num_cpus=0, num_gpus=0 leave the worker count open: give workers=N")
            return self.workers
        room = min(int(resources.get(kind, 0) // amount) for kind, amount in needs.items())
        wanted = self.workers or max(room, 1)
        if wanted > room:
            raise UsageError(f"{wanted} Ray worker(s) at num_cpus={self.num_cpus}, num_gpus={self.num_gpus} each do "
                             f"not fit the cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} "
                             "GPUs); lower workers or the resources per worker, or add nodes")
        return wanted

    def _start_workers(self, count: int) -> list[_Worker]:
        """Start `count` replicas, spread over the nodes, and check each loaded the driver's model."""
        ray = self._ray
        actor_class = ray.remote(ModelReplica).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=self.restarts, max_task_retries=-1,
            scheduling_strategy="SPREAD", runtime_env=self.runtime_env)
        factory = MODELS.get(self.model_spec.backend)
        self._actors = [actor_class.remote(factory, self.model_spec) for _ in range(count)]
        try:
            descriptions = ray.get([actor.describe.remote() for actor in self._actors])
        except ray.exceptions.RayTaskError as error:
            raise _remote_error(error)
        except ray.exceptions.RayActorError as error:
            raise RunInterrupted(f"a Ray worker died while loading {self.model_spec} ({_first_line(error)}); "
                                 "every node needs harness and the backend's extras installed") from error
        expected = self.model.fingerprint()
        workers = []
        for index, (actor, described) in enumerate(zip(self._actors, descriptions)):
            label = f"worker {index + 1}/{count} (host {described['host']}, pid {described['pid']})"
            if described["fingerprint"] != expected:
                raise UsageError(f"Ray {label} loaded {self.model_spec} as fingerprint {described['fingerprint']!r}, "
                                 f"the driver as {expected!r}: the spec must name the same weights on every node "
                                 "(a hub id, or a path every node holds)")
            workers.append(_Worker(actor, label))
        return workers

    def _dispatch(self, shards: _Shards) -> Iterator[list[Answered]]:
        """Keep every live worker `CHUNKS_PER_WORKER` chunks deep; yield answers as chunks finish."""
        ray = self._ray
        while shards.waiting or shards.in_flight:
            self._top_up(shards)
            [ref], _ = ray.wait(list(shards.in_flight), num_returns=1)
            worker, chunk = shards.in_flight.pop(ref)
            worker.in_flight -= 1
            try:
                responses, seconds = ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                raise _remote_error(error)
            except ray.exceptions.RayError as error:  # the worker, its node or the result was lost
                self._requeue(shards, worker, chunk, error)
                continue
            self.model_s += seconds
            if len(responses) != len(chunk.pending):
                raise RuntimeError(f"model {self.model_spec} returned {len(responses)} responses "
                                   f"for {len(chunk.pending)} requests")
            yield [(sample, request, response) for (sample, request), response in zip(chunk.pending, responses)]

    def _top_up(self, shards: _Shards) -> None:
        """Send waiting chunks round-robin, so the first ones spread over every worker."""
        for depth in range(CHUNKS_PER_WORKER):
            for worker in shards.workers:
                if shards.waiting and worker.in_flight <= depth:
                    chunk = shards.waiting.popleft()
                    ref = worker.actor.generate.remote([request for _, request in chunk.pending])
                    shards.in_flight[ref] = (worker, chunk)
                    worker.in_flight += 1

    def _requeue(self, shards: _Shards, worker: _Worker, chunk: _Chunk, error: Exception) -> None:
        """Give a lost chunk to the other workers; drop a worker Ray could not keep alive."""
        if isinstance(error, self._ray.exceptions.RayActorError) and worker in shards.workers:
            shards.workers.remove(worker)
        chunk.losses += 1
        if not shards.workers:
            raise RunInterrupted(f"every Ray worker was lost (each restarted up to {self.restarts} times; "
                                 f"last: {worker.label}: {_first_line(error)})") from error
        if chunk.losses > self.restarts:
            raise RunInterrupted(f"a chunk of {len(chunk.pending)} requests was lost {chunk.losses} times "
                                 f"(restarts={self.restarts}; last on {worker.label}: {_first_line(error)})") from error
        shards.waiting.appendleft(chunk)


def _remote_error(error: Any) -> BaseException:
    """The exception the model or a scorer raised on the worker, so a UsageError or RunInterrupted
    reads as it would in a local run; Ray's wrapper, with the remote traceback, stays its context."""
    return error.cause if isinstance(error.cause, BaseException) else error


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address nothing listens at: Ray itself retries such an address
    for ever, printing a warning every few seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"runner address {address!r}: expected HOST:PORT (e.g. 10.0.0.1:6379), "
                         "ray://HOST:10001 or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise UsageError(f"runner address {address!r}: nothing answers there ({error}); start the cluster "
                         "(`ray start --head --port=6379`) or fix the address") from error


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
