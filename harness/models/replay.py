"""`replay:PATH` re-scores saved generations without a model.

The file holds one JSON object per line, `{"id": SAMPLE_ID, "response": TEXT}`, optionally with
`"attempt": N` for tasks that sample several attempts. Use it to score outputs produced
elsewhere, or to re-score after an extraction or scorer fix without generating again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from harness.errors import UsageError
from harness.types import Request, Response


class ReplayModel:
    """Looks each request up by (sample id, attempt); a missing one is an unscored error."""

    chunk_size = 1024
    cacheable = False

    def __init__(self, name: str) -> None:
        if not name:
            raise UsageError("replay needs a file: --model replay:PATH/TO/responses.jsonl")
        self.name = name
        self.path = Path(name)
        if not self.path.is_file():
            raise UsageError(f"replay file {name!r} does not exist; pass a jsonl of {{id, response}} lines")
        self._content = self.path.read_bytes()
        self._responses = self._parse(self._content.decode("utf-8"))

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
        results = []
        for request in requests:
            text = self._responses.get((request.sample_id, request.attempt))
            if text is None:
                error = f"no response for id {request.sample_id!r} attempt {request.attempt} in {self.path}"
                results.append(Response(error=error))
            else:
                results.append(Response(text=text, finish_reason="stop"))
        return results

    def fingerprint(self) -> str:
        return "replay:" + hashlib.sha256(self._content).hexdigest()
