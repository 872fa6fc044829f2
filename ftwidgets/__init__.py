"""Fine-Tuning Workbook: from raw examples to a fine-tuned chat model, measured and reviewed."""

from ._version import __version__
from .base_models import DEFAULT_BASE_MODEL, base_model

__all__ = ["DEFAULT_BASE_MODEL", "ExportError", "__version__", "base_model", "client", "export"]


def client(*args, **kwargs):
    """An `openai.OpenAI` client for the embedded engine, OpenAI, or a compatible server (see `ftwidgets.backends`)."""
    from .backends import client as _client

    return _client(*args, **kwargs)


def export(model: str, format: str = "adapter", out=None, **kwargs):
    """Take a fine-tuned model out of the embedded engine as an adapter, a merged model or a GGUF file
    (see `ftwidgets.engine.export.export`); returns the folder written."""
    from .engine.export import export as _export

    return _export(model, format, out, **kwargs)


def __getattr__(name: str):
    """`ftwidgets.ExportError` without importing the engine's modules at `import ftwidgets`."""
    if name == "ExportError":
        from .engine.export import ExportError

        return ExportError
    raise AttributeError(f"module 'ftwidgets' has no attribute {name!r}")
