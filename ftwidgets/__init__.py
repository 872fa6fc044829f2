"""Fine-Tuning Workbook: from raw examples to a fine-tuned chat model, measured and reviewed."""

from ._version import __version__

__all__ = ["__version__", "client"]


def client(*args, **kwargs):
    """An `openai.OpenAI` client for the embedded engine, OpenAI, or a compatible server (see `ftwidgets.backends`)."""
    from .backends import client as _client

    return _client(*args, **kwargs)
