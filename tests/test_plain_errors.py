"""A failed notebook cell shows the workbook's own errors as their message, and still fails; a bug keeps its frames."""

import types

import openai
import pytest
from IPython.core.interactiveshell import InteractiveShell

from ftwidgets.runtime.plain_errors import HINT, plain_message, show_errors_plainly


@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    show_errors_plainly(shell)
    yield shell
    shell.set_custom_exc((), None)
    InteractiveShell.clear_instance()


@pytest.mark.parametrize(
    "cell, said",
    [
        (
            "from ftwidgets.data.dataset import DataError\nraise DataError('line 3: not valid JSON')",
            "line 3: not valid JSON",
        ),
        (
            "from ftwidgets.runtime.disk import DiskFull\nraise DiskFull('/tmp', 'the split')",
            "The disk holding /tmp is full",
        ),
        ("from ftwidgets.hyperparams import ensure_launchable\nensure_launchable(30, {})", "Not launched: 30 examples"),
        ("assert 1 == 2, 'Fix the 2 error(s) listed above'", "Checkpoint not passed: Fix the 2 error(s) listed above"),
    ],
)
def test_the_workbooks_errors_show_their_message_alone_and_the_cell_still_fails(shell, capsys, cell, said):
    result = shell.run_cell(cell)
    shown = capsys.readouterr().out
    assert result.error_in_exec is not None  # a headless run stops at this cell, as before
    assert said in shown and HINT in shown and "Traceback" not in shown and "----> " not in shown, shown
    shell.run_cell("%tb")
    assert "Traceback" in capsys.readouterr().out  # the frames are one magic away, for a bug report


def test_a_bug_keeps_its_traceback(shell, capsys):
    result = shell.run_cell("{}['missing']")
    shown = capsys.readouterr().out
    assert isinstance(result.error_in_exec, KeyError) and "Traceback" in shown and HINT not in shown


def test_a_backends_refusal_says_what_the_backend_said():
    response = types.SimpleNamespace(status_code=400, request=types.SimpleNamespace(url="http://x"), headers={})
    body = {"error": {"message": "n_epochs must be 'auto' or between 1 and 50", "code": "invalid_hyperparameter"}}
    refusal = openai.BadRequestError("Error code: 400 - {...}", response=response, body=body)
    assert (
        plain_message(refusal) == "The backend refused the request (400): n_epochs must be 'auto' or between 1 and 50"
    )
    assert plain_message(AssertionError()) is None  # a bare assert is a bug's, not a checkpoint's
