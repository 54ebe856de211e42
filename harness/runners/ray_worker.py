"""What `--runner ray` runs on the cluster: model replicas (actors) and scoring batches (tasks).

Plain code with no Ray import, so a worker process imports nothing Ray-specific from us; the
driver wraps it with `ray.remote` (harness/runners/ray.py).
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from typing import Any, Callable, Sequence

from harness.models.base import Model, ModelSpec
from harness.runners.scoring import Scorable, sample_records
from harness.tasks.packages import load_task_package
from harness.types import Request, Response, SampleRecord


class ModelReplica:
    """Builds `factory(spec.name, **spec.args)` on the worker: one hf: model per worker, say, or
    one vLLM engine per worker (data parallel).

    The driver hands over the factory its registry resolved rather than the backend's name, so a
    backend registered in the driver's process (a notebook, a test) builds the same way here,
    as long as its module imports on the worker.

    A constructor that raised would kill the actor, and Ray would restart it (reloading the model)
    `max_restarts` times before reporting the error inside a multi-line ActorDiedError; so a load
    failure is kept and raised by the first call instead, once, as the backend's own exception.
    """

    def __init__(self, factory: Callable[..., Model], spec: ModelSpec) -> None:
        self._model: Model | None = None
        self._load_error: Exception | None = None
        try:
            self._model = factory(spec.name, **spec.args)
        except Exception as error:  # raised by the first call, see the class docstring
            self._load_error = error

    def describe(self) -> dict[str, Any]:
        """The replica's fingerprint (the driver checks it matches its own) and where it runs."""
        return {"fingerprint": self._loaded().fingerprint(), "host": socket.gethostname(), "pid": os.getpid()}

    def generate(self, requests: Sequence[Request]) -> tuple[list[Response], float]:
        """The chunk's responses and the seconds the model took (the run's `model_s` sums them)."""
        model = self._loaded()
        began = time.perf_counter()
        responses = model.generate(requests)
        return responses, time.perf_counter() - began

    def _loaded(self) -> Model:
        if self._load_error is not None:
            raise self._load_error
        assert self._model is not None
        return self._model


def score_on_worker(task_folder: str, task_pickle: bytes, batch: list[Scorable]) -> list[SampleRecord]:
    """One scoring batch, as a Ray task on any node: the records, which the driver journals.

    The task arrives pickled, and its scorers may be functions of its folder's package
    (`harness_tasks.<name>`), which a fresh worker process has not registered: so the package is
    registered before the task is unpickled. The node needs what the scorers need (the sandbox
    toolchains, `harness sandbox build`); its sandbox and execution cache are its own.
    """
    load_task_package(task_folder)
    task = pickle.loads(task_pickle)
    try:
        return sample_records(task, batch)
    finally:
        task.close()
