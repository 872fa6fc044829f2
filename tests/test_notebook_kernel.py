"""Every notebook's kernel, set up by its parameters cell: plain errors, and between cells no tokenizer held."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ftwidgets.runtime.notebook_kernel import between_cells, prepare
from ftwidgets.runtime.plain_errors import HINT


@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    prepare(shell)
    prepare(shell)  # a parameters cell run twice sets the kernel up once
    yield shell
    shell.events.unregister("post_run_cell", between_cells)
    shell.set_custom_exc((), None)
    InteractiveShell.clear_instance()


def test_the_kernel_lets_the_tokenizer_go_after_a_cell_that_validated_or_split(shell):
    assert shell.events.callbacks["post_run_cell"].count(between_cells) == 1
    shell.run_cell(
        "import weakref\n"
        "from ftwidgets import tokens, workbook\n"
        "from ftwidgets.data.dataset import load_jsonl\n"
        "from ftwidgets.data.split import split_examples\n"
        "from ftwidgets.data.validate import validate_file\n"
        "report = validate_file(workbook.SAMPLES / 'math_tutor.jsonl')\n"
        "held = weakref.ref(tokens.get_encoding())"
    )
    assert shell.user_ns["report"].examples > 100 and shell.user_ns["held"]() is None  # its ~75 MB can go back
    shell.run_cell("parts = split_examples(load_jsonl(workbook.SAMPLES / 'math_tutor.jsonl'), seed=42)")
    shell.run_cell("again = weakref.ref(tokens.get_encoding())")
    assert shell.user_ns["again"]() is None
    shell.run_cell("validate_file(workbook.SAMPLES / 'math_tutor.jsonl').valid")  # and loads again when needed
    assert shell.user_ns["_"] is True


def test_a_failed_cell_in_a_prepared_kernel_shows_the_message(shell, capsys):
    shell.run_cell("assert False, 'Collect more examples'")
    shown = capsys.readouterr().out
    assert "Checkpoint not passed: Collect more examples" in shown and HINT in shown and "Traceback" not in shown
