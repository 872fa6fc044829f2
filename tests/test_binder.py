"""The Binder image's JupyterLab defaults: the settings exist in the installed JupyterLab's schemas and
take values it accepts (a misspelt key would be ignored without a word), and postBuild installs them."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def _allowed(spec: dict) -> list:
    if "oneOf" in spec:
        return [option["const"] for option in spec["oneOf"]]
    return {"boolean": [True, False]}[spec["type"]]


def test_the_news_pop_up_is_off_with_settings_jupyterlab_knows():
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false"  # the "get notified about Jupyter news?" pop-up
    for plugin, settings in overrides.items():
        package, name = plugin.split(":")
        schema = json.loads((SCHEMAS / package / f"{name}.json").read_text())
        for key, value in settings.items():
            assert key in schema["properties"], f"{plugin} has no setting {key!r}"
            assert value in _allowed(schema["properties"][key]), f"{plugin}: {key}={value!r} is not allowed"


def test_postbuild_installs_the_overrides_where_jupyterlab_reads_them():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "share/jupyter/lab/settings" in post_build and "cp binder/overrides.json" in post_build
