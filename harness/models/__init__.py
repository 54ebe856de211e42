"""Model backends. Import a backend through `load_model`, never directly: heavy ones are lazy."""

from harness.models.base import Model, ModelSpec, load_model, parse_model_spec

__all__ = ["Model", "ModelSpec", "load_model", "parse_model_spec"]
