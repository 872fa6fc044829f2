"""The embedded engine: an OpenAI-compatible server that really LoRA-fine-tunes a small open model, offline.

    from ftwidgets import engine
    handle = engine.start()          # background server for a notebook
    client = handle.client()         # an openai.OpenAI pointed at it

Or from a shell: ``ftw engine serve``.
"""

from .server import EngineHandle, start, stop_all

__all__ = ["EngineHandle", "start", "stop_all"]
