"""Two notebooks (two kernels) on one engine folder share one engine instead of fighting over its jobs."""

import subprocess
import sys
import textwrap

from ftwidgets.engine import start
from ftwidgets.engine.server import OWNER_FILE

CHILD = textwrap.dedent("""
    import sys
    from ftwidgets.engine import start
    h = start(sys.argv[1])
    ids = [m.id for m in h.client(max_retries=0).models.list()]
    print(h.owned, h.base_url, "smollm2-135m-instruct" in ids)
    h.stop()
""")


def _other_kernel(folder):
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    owned, url, listed = out.stdout.split()
    return owned == "True", url, listed == "True"


def test_a_second_process_connects_to_the_running_engine(tmp_path):
    handle = start(tmp_path, api_key="folder-key")
    try:
        assert handle.owned and (tmp_path / OWNER_FILE).stat().st_mode & 0o077 == 0  # the key file is private
        owned, url, listed = _other_kernel(tmp_path)
        assert not owned and url == handle.base_url and listed
        assert handle.client(max_retries=0).models.list().data  # ours still serves after the other let go
    finally:
        handle.stop()
    assert not (tmp_path / OWNER_FILE).exists()
    owned, url, listed = _other_kernel(tmp_path)  # the folder is free again: the next process runs its own
    assert owned and listed
