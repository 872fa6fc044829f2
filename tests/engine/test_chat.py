"""Assistant-only labels through the real SmolLM2 tokenizer and its ChatML template."""

import pytest

from ftwidgets.engine import models
from ftwidgets.engine.chat import IGNORE, encode_example, end_token_ids, normalize, prompt_ids


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models.ensure_converted())


def _learned(tok, ids, labels):
    return tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE])


def test_only_assistant_replies_and_their_end_token_are_learned(tok):
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "Answer: 5"},
        {"role": "user", "content": "and 4+4?"},
        {"role": "assistant", "content": "Answer: 8"},
    ]
    ids, labels = encode_example(tok, msgs, 1024)
    assert len(ids) == len(labels)
    assert _learned(tok, ids, labels) == "Answer: 5<|im_end|>Answer: 8<|im_end|>"
    assert tok.decode(ids).startswith("<|im_start|>system\nBe brief.")


def test_weight_zero_is_context_only(tok):
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "bad answer", "weight": 0},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "good answer", "weight": 1},
    ]
    ids, labels = encode_example(tok, msgs, 1024)
    assert _learned(tok, ids, labels) == "good answer<|im_end|>"


def test_truncation_and_prompt_ids(tok):
    msgs = [{"role": "user", "content": "x " * 50}, {"role": "assistant", "content": "y " * 50}]
    ids, labels = encode_example(tok, msgs, 32)
    assert len(ids) == len(labels) == 32
    p = tok.decode(prompt_ids(tok, msgs[:1]))
    assert p.endswith("<|im_start|>assistant\n")


def test_normalize_content_parts_and_tool_calls():
    out = normalize(
        [
            {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
        ]
    )
    assert out[0] == {"role": "system", "content": "ab", "weight": 1}
    assert '"name": "f"' in out[1]["content"]


def _word_tokenizer(words):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "</s>", *words])}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")), unk_token="<unk>", eos_token="</s>"
    )


def test_a_reply_ends_at_eos_and_at_chatmls_end_only_where_the_vocabulary_has_it():
    assert end_token_ids(_word_tokenizer(["hello"])) == {1}  # an unknown <|im_end|> is <unk>, not an end
    assert end_token_ids(_word_tokenizer(["hello", "<|im_end|>"])) == {1, 3}
