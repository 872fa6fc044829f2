"""Fine-Tuning Workbook: from raw examples to a fine-tuned chat model, measured and reviewed."""

__version__ = "0.1.0"


def client(*args, **kwargs):
    """An `openai.OpenAI` client for the embedded engine, OpenAI, or a compatible server (see `ftwidgets.backends`)."""
    from .backends import client as _client

    return _client(*args, **kwargs)
