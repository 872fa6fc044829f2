"""The embedded engine: an OpenAI-compatible server that really LoRA-fine-tunes a small open model, offline.

    from ftwidgets import engine
    handle = engine.ensure_process() # its own process, shared by every notebook on the same data folder
    client = handle.client()         # an openai.OpenAI pointed at it
    handle = engine.start()          # or a server thread inside this process (tests, scripts)

Or from a shell: ``ftw engine serve`` (and ``ftw engine stop``).
"""

from .server import EngineHandle, ensure_process, start, stop_all, stop_process

__all__ = ["EngineHandle", "ensure_process", "start", "stop_all", "stop_process"]
