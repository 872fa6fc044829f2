import hashlib

import pytest

from ftwidgets import tokens
from ftwidgets.hyperparams import auto_epochs


def test_seeding_writes_tiktoken_cache_files_named_by_url_sha1(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.seed_offline_encodings()
    for name in ("o200k_base", "cl100k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        f = tmp_path / hashlib.sha1(url.encode()).hexdigest()
        assert f.stat().st_size > 1_000_000
    # the copy is byte-identical to OpenAI's file: tiktoken checks this sha256 on load
    o200k = (
        tmp_path / hashlib.sha1(b"https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken").hexdigest()
    )
    assert (
        hashlib.sha256(o200k.read_bytes()).hexdigest()
        == "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
    )


def test_encoding_per_model_uses_tiktokens_map():
    assert tokens.encoding_name("gpt-4.1-mini") == "o200k_base"
    assert tokens.encoding_name("gpt-4o-mini-2024-07-18") == "o200k_base"
    assert tokens.encoding_name("gpt-3.5-turbo-0125") == "cl100k_base"
    assert tokens.encoding_name("ft:gpt-3.5-turbo-0125:acme::abc") == "cl100k_base"
    assert tokens.encoding_name("some-future-model") == "o200k_base"


def test_token_limits():
    assert tokens.token_limit("gpt-4o-mini-2024-07-18") == 65_536
    assert tokens.token_limit("gpt-4.1-nano-2025-04-14") == 65_536
    assert tokens.token_limit("gpt-3.5-turbo-0125") == 16_385
    assert tokens.token_limit("gpt-4o", override=1000) == 1000


def test_count_message_tokens_follows_the_cookbook():
    enc = tokens.get_encoding("gpt-4o")
    msgs = [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi!", "name": "bot", "weight": 1},
    ]
    expected = (
        3
        + (3 + len(enc.encode("user")) + len(enc.encode("Hello there")))
        + (3 + len(enc.encode("assistant")) + len(enc.encode("Hi!")) + len(enc.encode("bot")) + 1)
    )
    assert tokens.count_message_tokens(msgs, "gpt-4o") == expected


@pytest.mark.parametrize(
    "n,epochs",
    [(1, 25), (4, 25), (10, 10), (34, 3), (33, 4), (100, 3), (8333, 3), (8334, 2), (25_000, 1), (100_000, 1)],
)
def test_auto_epochs_rule(n, epochs):
    assert auto_epochs(n) == epochs


def test_billable_tokens_and_cost_with_override():
    assert tokens.billable_tokens([10, 100, 70_000], epochs=2, limit=65_536) == (10 + 100 + 65_536) * 2
    est = tokens.estimate_cost([1000] * 10, model="gpt-4o-mini-2024-07-18", epochs=3)
    assert est.billable_tokens == 30_000 and est.usd == pytest.approx(30_000 * 3.0 / 1e6)
    assert est.prices_as_of == tokens.PRICES_AS_OF
    cheaper = tokens.estimate_cost([1000] * 10, model="gpt-4o-mini", epochs=3, prices={"gpt-4o-mini": 1.0})
    assert cheaper.usd == pytest.approx(0.03)
    assert tokens.estimate_cost([10] * 10, model="mystery").usd is None
    assert "auto" not in str(est) and "$" in str(est)
