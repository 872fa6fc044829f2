import json

import pytest

from ftwidgets.data.dataset import DataError, load_jsonl
from ftwidgets.data.split import find_leaks, fix_leaks, sha256_file, split_examples, split_file

from .conftest import SAMPLES, chat


@pytest.fixture(scope="module")
def math():
    return load_jsonl(SAMPLES / "math_tutor.jsonl")


def test_80_10_10_and_deterministic(math):
    a = split_examples(math, seed=7)
    b = split_examples(math, seed=7)
    c = split_examples(math, seed=8)
    assert a.counts == {"train": 960, "validation": 120, "test": 120}
    assert a.test == b.test and a.train == b.train
    assert a.test != c.test
    assert sorted(map(json.dumps, a.train + a.validation + a.test)) == sorted(map(json.dumps, math))
    assert a.leaks == []


def test_groups_never_straddle_splits():
    exs = [chat(user=f"Question {i // 4}", answer=f"Answer variant {i} with some words {i * 13}") for i in range(200)]
    r = split_examples(exs, seed=1, group_key="first_user", merge_near_duplicates=False)
    where = {}
    for name, part in r.parts().items():
        for ex in part:
            where.setdefault(ex["messages"][1]["content"], set()).add(name)
    assert all(len(s) == 1 for s in where.values())
    assert r.groups == 50
    assert abs(r.counts["train"] - 160) <= 4


def test_stratified_by_system_prompt(math):
    r = split_examples(math, seed=3, stratify="system")
    from collections import Counter

    def share(part):
        c = Counter(ex["messages"][0]["content"] for ex in part)
        return {k: v / len(part) for k, v in c.items()}

    whole, test = share(math), share(r.test)
    assert all(abs(whole[k] - test.get(k, 0)) < 0.05 for k in whole)


def test_leaks_found_and_fixed(math):
    exs = math[:300] + [math[5], math[6]]
    near = json.loads(json.dumps(math[7]))
    near["messages"][2]["content"] += " Good job!"
    exs.append(near)
    # with grouping of copies disabled in a hand-made split, leaks show up...
    parts = {"train": exs[:250], "validation": exs[250:275], "test": exs[275:]}
    leaks = find_leaks(parts)
    kinds = sorted(leak.kind for leak in leaks)
    assert kinds == ["exact", "exact", "near"]
    # ... and the default split keeps copies together, so there are none
    assert split_examples(exs, seed=1).leaks == []
    r = split_examples(exs, seed=1)
    r.leaks = leaks
    r.train, r.validation, r.test = parts["train"], parts["validation"], parts["test"]
    fixed = fix_leaks(r)
    assert fixed.leaks == [] and len(fixed.test) == len(parts["test"]) - 3


def test_write_split_manifest_and_no_overwrite(tmp_path):
    src = SAMPLES / "math_tutor.jsonl"
    before = sha256_file(src)
    m = split_file(src, tmp_path / "split", seed=42)
    for name in ("train", "validation", "test"):
        f = tmp_path / "split" / f"{name}.jsonl"
        assert m["files"][name]["sha256"] == sha256_file(f)
        assert m["counts"][name] == len(load_jsonl(f))
    assert m["params"]["seed"] == 42 and m["package_version"] and m["source"]["sha256"] == before
    with pytest.raises(DataError, match="already holds"):
        split_file(src, tmp_path / "split", seed=1)
    assert sha256_file(src) == before
    with pytest.raises(DataError, match="ratios"):
        split_examples(load_jsonl(src)[:20], ratios=(0.5, 0.5, 0.5))
