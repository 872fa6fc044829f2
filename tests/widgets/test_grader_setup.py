"""GraderSetup, driven as a learner drives it: the proposal for their own JSON answers shown and saved at once, a
rule and a few lines of Python added, a bad grader named and not saved, a grader that fails its references flagged."""

import json

from ftwidgets.graders import graders_for, load_graders
from ftwidgets.widgets import GraderSetup

from ..conftest import SAMPLES, chat, write_lines


def orders(tmp_path, n=30):
    lines = (SAMPLES / "own_orders.jsonl").read_text().splitlines()[:n]
    return write_lines(tmp_path / "mine.jsonl", [json.loads(line) for line in lines])


def test_the_proposal_is_previewed_and_saved_as_it_appears(tmp_path):
    data, saved = orders(tmp_path), tmp_path / "graders.json"
    setup = GraderSetup(data, saved)
    assert setup.ok and saved.exists()
    assert [g["name"] for g in load_graders(saved)][:3] == ["valid JSON", "exact match", "field name"]
    assert "field pickup_time" in setup.table.value and "100% of 30" in setup.table.value
    assert "every reference answer passes all 8 graders" in setup.message.value


def test_a_rule_and_python_are_added_a_bad_grader_is_named_and_a_failing_one_flagged(tmp_path):
    data, saved = orders(tmp_path), tmp_path / "graders.json"
    setup = GraderSetup(data, saved)
    setup.rule_name.value, setup.rule_operation.value, setup.rule_reference.value = "has a size", "like", '"size"'
    assert setup.add_rule() and setup.ok and "has a size" in setup.table.value
    setup.python_name.value = "two or fewer"
    setup.python_source.value = (
        "import json\ndef grade(sample, item):\n    return float(json.loads(sample['output_text'])['quantity'] <= 2)\n"
    )
    assert setup.add_python()
    assert not setup.ok and "two or fewer fails lines" in setup.message.value  # some orders are for 3 or 4
    kept = load_graders(saved)
    assert kept[-1]["name"] == "two or fewer"
    assert graders_for(data, saved) == (kept, True)  # the learner's edits stay for this file
    before = saved.read_text()
    assert not setup.apply(json.dumps([{**kept[0], "type": "stringcheck"}]))
    assert "grader" in setup.message.value and "stringcheck" in setup.message.value and saved.read_text() == before
    assert not setup.apply("[{not json")
    assert "not JSON" in setup.message.value
    cleaned = write_lines(tmp_path / "cleaned.jsonl", [json.loads(line) for line in data.read_text().splitlines()[:20]])
    setup.use(cleaned)  # step 2's cleaned file: the same graders, saved for it
    assert graders_for(cleaned, saved) == (kept, True) and setup.previews[0].n == 20


def test_answers_in_words_get_word_overlap(tmp_path):
    data = write_lines(
        tmp_path / "d.jsonl", [chat(f"Say hi to {i}", f"Hello there, friend number {i}!") for i in range(12)]
    )
    setup = GraderSetup(data, tmp_path / "graders.json")
    assert [g["name"] for g in setup.graders] == ["token F1", "ROUGE-L"] and setup.ok
