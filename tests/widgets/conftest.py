from ..engine.conftest import client, engine  # noqa: F401  (a real engine for the monitor's refresh test)
