import numpy as np

from ftwidgets.data import quality


def _sig(seqs):
    offsets = np.cumsum([0] + [len(s) for s in seqs])
    return quality.minhash_signatures(np.array([t for s in seqs for t in s], dtype=np.int64), offsets)


def _jaccard(a, b, k=quality.SHINGLE):
    sa = {tuple(a[i : i + k]) for i in range(len(a) - k + 1)}
    sb = {tuple(b[i : i + k]) for i in range(len(b) - k + 1)}
    return len(sa & sb) / len(sa | sb)


def test_minhash_estimates_jaccard():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 50_000, 400).tolist()
    for keep in (0.95, 0.7, 0.3):
        other = [t if rng.random() < keep else int(rng.integers(0, 50_000)) for t in base]
        sig = _sig([base, other])
        est = quality.signature_similarity(sig[0], sig[1])
        assert abs(est - _jaccard(base, other)) < 0.15


def test_identical_and_disjoint_and_short_sequences():
    sig = _sig([[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7], [9, 9, 8], [9, 9, 8], [], list(range(100, 200))])
    assert quality.signature_similarity(sig[0], sig[1]) == 1.0
    assert quality.signature_similarity(sig[2], sig[3]) == 1.0  # short: one whole-sequence shingle
    assert quality.signature_similarity(sig[0], sig[5]) == 0.0
    assert np.all(sig[4] == quality.EMPTY)


def test_near_duplicate_pairs_pairs_later_with_earliest():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 50_000, 300).tolist()
    b = list(a)
    b[150] = 7
    c = rng.integers(0, 50_000, 300).tolist()
    pairs = quality.near_duplicate_pairs(_sig([a, c, b, a]))
    assert [(i, j) for i, j, _ in pairs] == [(0, 2), (0, 3)]
    skip = np.array([False, False, False, True])
    assert [(i, j) for i, j, _ in quality.near_duplicate_pairs(_sig([a, c, b, a]), skip=skip)] == [(0, 2)]


def test_personal_data_kinds():
    kinds = lambda t: {k for k, _ in quality.find_personal_data(t)}  # noqa: E731
    assert kinds("write to ann@example.org") == {"email"}
    assert kinds("call (415) 555-0100 today") == {"phone"}
    assert kinds("AKIA" + "ABCDEFGHIJKLMNOP") == {"api_key"}
    assert kinds("token ghp_" + "a" * 36) == {"api_key"}
    assert kinds("Solve 345 + 678: Ones: 5+8=13 (write 3, carry 1); Answer: 1023") == set()
    assert kinds("In 1969, 3 astronauts flew 384 400 km.") == set()


def test_fact_signals_and_verdict():
    fact = [
        {"role": "user", "content": "What is the capital of Peru?"},
        {"role": "assistant", "content": "The capital of Peru is Lima."},
    ]
    style = [
        {"role": "user", "content": "I lost my keys."},
        {"role": "assistant", "content": "A great excuse to tidy up!"},
    ]
    math = [
        {"role": "user", "content": "What is 45 × 7?"},
        {"role": "assistant", "content": "Step 1: Multiply 45 by 7: 45×7=315.\nAnswer: 315"},
    ]
    assert quality.fact_signals(fact).score >= quality.FACT_THRESHOLD
    assert quality.fact_signals(style).score < quality.FACT_THRESHOLD
    assert quality.fact_signals(math).score < quality.FACT_THRESHOLD
    v = quality.fact_verdict([0.9, 0.8, 0.1, 0.7])
    assert v.looks_like_facts and v.evidence == [0, 1, 3] and "retrieval" in v.sentence
    assert not quality.fact_verdict([0.1, 0.2, 0.9, 0.0, 0.1]).looks_like_facts


def test_repetitive_text():
    assert quality.is_repetitive("Eat a banana!" * 200)
    assert not quality.is_repetitive("short")
    assert not quality.is_repetitive(" ".join(str(i * 7919 % 10007) for i in range(400)))
