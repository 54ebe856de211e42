"""harness: evaluation of language models and the systems built around them.

The public API is this module's names; everything else is private to the package. Names are
imported on first use so that `harness --help` does not pay for pyarrow, jinja2 or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.api import RunResult, evaluate
    from harness.errors import UsageError
    from harness.models.base import Model, load_model
    from harness.rescoring import rescore
    from harness.suites import SuiteResult, evaluate_suite
    from harness.types import GenerationSettings, Message, Request, Response, Sample, SampleRecord

_EXPORTS = {
    "evaluate": "harness.api", "RunResult": "harness.api", "UsageError": "harness.errors",
    "Model": "harness.models.base", "load_model": "harness.models.base", "rescore": "harness.rescoring",
    "evaluate_suite": "harness.suites", "SuiteResult": "harness.suites",
    **{name: "harness.types" for name in ("GenerationSettings", "Message", "Request", "Response", "Sample", "SampleRecord")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
