"""`replay:PATH` re-scores saved generations without a model.

PATH is either a jsonl file with one JSON object per line, `{"id": SAMPLE_ID, "response": TEXT}`
(optionally `"attempt": N` for tasks that sample several attempts), to score outputs produced
elsewhere; or a run directory, whose responses journal holds every field the model gave (text,
logprob, finish reason, token counts, reward scores, an adapter's trace), to re-score a run after
a scorer fix or with other scoring arguments (`harness rescore` does this). From a run directory
an answer is given only to the very request it answered: a changed prompt or generation setting
is an error, not a silently mismatched score.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from harness.errors import UsageError
from harness.store.run_dir import RESPONSES, StoredResponse, read_responses
from harness.types import Request, Response


class ReplayModel:
    """Looks each request up by (sample id, attempt); a missing one is an unscored error."""

    chunk_size = 1024
    cacheable = False

    def __init__(self, name: str) -> None:
        if not name:
            raise UsageError("replay needs a file or a run dir: --model replay:PATH/TO/responses.jsonl or replay:RUN_DIR")
        self.name = name
        self.path = Path(name)
        self._stored: dict[tuple[str, int], StoredResponse] | None = None
        if self.path.is_dir():
            journal = self.path / RESPONSES
            if not journal.is_file():
                raise UsageError(f"replay: {self.path} has no {RESPONSES}: not a run directory, or one written before "
                                 "harness kept raw responses; pass a jsonl of {id, response} lines instead")
            self._content = journal.read_bytes()
            self._stored = read_responses(self.path)
            return
        if not self.path.is_file():
            raise UsageError(f"replay file {name!r} does not exist; pass a jsonl of {{id, response}} lines or a run dir")
        self._content = self.path.read_bytes()
        try:
            text = self._content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"replay file {self.path} is not UTF-8 text (byte {error.start}: {error.reason}); "
                             "save it as UTF-8 JSON lines") from None
        self._responses = self._parse(text)

    def _parse(self, text: str) -> dict[tuple[str, int], str]:
        responses: dict[tuple[str, int], str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (str(row["id"]), int(row.get("attempt", 0)))
                responses[key] = str(row["response"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise UsageError(
                    f"{self.path}:{number}: expected {{\"id\": ..., \"response\": ...}} ({error})"
                ) from error
        return responses

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        if self._stored is not None:
            return [self._from_run(request) for request in requests]
        results = []
        for request in requests:
            if request.kind in ("loglikelihood", "reward"):
                raise UsageError(f"replay file {self.path} holds response texts, and sample {request.sample_id!r} asks "
                                 f"for a {request.kind} answer ({'log-probabilities of its choices' if request.kind == 'loglikelihood' else 'scores'}), "
                                 "which no text holds; replay a run dir (replay:RUN_DIR) or run a model")
            text = self._responses.get((request.sample_id, request.attempt))
            if text is None:
                results.append(Response(error=self._missing(request)))
            else:
                results.append(Response(text=text, finish_reason="stop"))
        return results

    def _from_run(self, request: Request) -> Response:
        assert self._stored is not None
        stored = self._stored.get((request.sample_id, request.attempt))
        if stored is None:
            return Response(error=self._missing(request))
        if stored.request_hash != request.content_hash():
            raise UsageError(
                f"replay: sample {request.sample_id!r} attempt {request.attempt} was asked something else in "
                f"{self.path} (a task argument changes its prompt or generation settings); re-scoring can change "
                "only how answers are scored: drop that argument, or run the model again")
        return stored.response

    def _missing(self, request: Request) -> str:
        return f"no response for id {request.sample_id!r} attempt {request.attempt} in {self.path}"

    def fingerprint(self) -> str:
        return "replay:" + hashlib.sha256(self._content).hexdigest()
