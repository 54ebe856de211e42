"""harness: evaluation of language models and the systems built around them.

The public API is this module's names; everything else is private to the package.
"""

from harness.api import RunResult, evaluate
from harness.errors import UsageError
from harness.models.base import Model, load_model
from harness.types import GenerationSettings, Message, Request, Response, Sample, SampleRecord

__all__ = [
    "GenerationSettings", "Message", "Model", "Request", "Response", "RunResult", "Sample",
    "SampleRecord", "UsageError", "evaluate", "load_model",
]
