"""Where the notebooks keep their work: one folder per step, each falling back to the committed samples.

Every notebook reads the previous step's artifact from ``data/work/`` and, when that
step has not been run, falls back to ``data/samples/``, so each notebook runs on its
own. ``FTW_WORK_DIR`` moves the work folder. (``FTW_QUICK=1``, read by each notebook's
parameters cell, asks for the short run that CI uses.)
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

from ._version import __version__
from .runtime.locations import ROOT
from .runtime.safe_files import atomic_write, write_json_atomic

SAMPLES = ROOT / "data" / "samples"
STEPS = ["01_prepare", "02_validate", "03_split", "04_train", "05_evaluate", "06_review"]
LESSONS = ["07_facts_need_retrieval"]  # side lessons: not a step of the pipeline, no later step reads them
# a further round after the six: preference tuning (DPO) from step 4's model, measured on step 3's test split
ROUNDS = ["08_preference_tuning"]
NOTEBOOKS = STEPS + LESSONS + ROUNDS
WORKBOOK_RUN = STEPS + ROUNDS  # what a headless run of the workbook executes, in order


def work_dir(step: str | None = None) -> Path:
    base = Path(os.environ.get("FTW_WORK_DIR", ROOT / "data" / "work"))
    path = base / step if step else base
    path.mkdir(parents=True, exist_ok=True)
    return path


def task(client: Any = None):
    """The task step 1 chose (its manifest), else ``FTW_TASK``, else the math tutor (`ftwidgets.tasks`); a learner's
    own data measured by the graders step 2 saved (`graders_file`), model graders asking through `client`."""
    from .tasks import DEFAULT_TASK, get_task, with_graders

    recorded = (manifest("01_prepare") or {}).get("task")
    chosen = get_task(recorded or os.environ.get("FTW_TASK") or DEFAULT_TASK)
    saved = graders_file()
    if chosen.sample or not saved.exists():
        return chosen
    from .graders import Grading, client_chat, load_graders

    return with_graders(chosen, load_graders(saved), Grading(client_chat(client) if client is not None else None))


def graders_file() -> Path:
    """Where step 2 keeps a learner's definition of success for their own data: a list of OpenAI grader objects that
    steps 5, 6 and 8 and the exports all read."""
    from .graders import GRADERS_FILE

    return work_dir("02_validate") / GRADERS_FILE


def prepared_dataset() -> Path:
    """The dataset the next steps train on: step 2's cleaned file where it was made from step 1's current dataset
    (`drop_flagged_examples`), else step 1's dataset, else the chosen task's committed sample."""
    p = work_dir("01_prepare") / "dataset.jsonl"
    if not p.exists():
        return SAMPLES / (task().sample or "math_tutor.jsonl")
    cleaned, record = work_dir("02_validate") / "dataset.cleaned.jsonl", work_dir("02_validate") / "cleaned.json"
    if cleaned.exists() and record.exists():
        from .data.split import sha256_file

        if json.loads(record.read_text()).get("source_sha256") == sha256_file(p):
            return cleaned
    return p


def drop_flagged_examples(report):
    """Step 2's way on: the examples of `report`'s file without the ones it flags as errors and the exact
    duplicates, in a new file of step 2 (`cleaning.drop_flagged`), recorded so `prepared_dataset` returns it while
    step 1's dataset is the one it was made from."""
    from .data.cleaning import drop_flagged

    cleaned = drop_flagged(report, work_dir("02_validate") / "dataset.cleaned.jsonl")
    write_json_atomic(
        work_dir("02_validate") / "cleaned.json",
        {
            "source": str(cleaned.source),
            "source_sha256": cleaned.source_sha256,
            "kept": cleaned.kept,
            "dropped_error_lines": sorted(cleaned.errors),
            "dropped_duplicate_lines": cleaned.duplicates,
        },
        indent=2,
    )
    return cleaned


def record_origins(origins) -> None:
    """Step 1: where each example of its dataset stands in the file the learner brought (`origins.Origins`), or
    nothing for a sample, kept with the dataset's checksum so a later dataset is never read with old places."""
    from .data.split import sha256_file

    path = work_dir("01_prepare") / "origins.json"
    if origins is None:
        path.unlink(missing_ok=True)
        return
    dataset = work_dir("01_prepare") / "dataset.jsonl"
    write_json_atomic(path, {**origins.to_dict(), "dataset_sha256": sha256_file(dataset)})


def origins_of(path: str | os.PathLike):
    """Where the examples of step 1's dataset, or of step 2's cleaned file made from it, stand in the learner's own
    file (`origins.Origins`); None for a sample or any other file, whose lines are its own."""
    from .data.origins import Origins
    from .data.split import sha256_file

    record_file, dataset = work_dir("01_prepare") / "origins.json", work_dir("01_prepare") / "dataset.jsonl"
    if not record_file.exists() or not dataset.exists():
        return None
    record = json.loads(record_file.read_text())
    digest = sha256_file(dataset)
    if record.get("dataset_sha256") != digest:
        return None
    origins = Origins.from_dict(record)
    if Path(path).resolve() == dataset.resolve():
        return origins
    cleaned, note = work_dir("02_validate") / "dataset.cleaned.jsonl", work_dir("02_validate") / "cleaned.json"
    if Path(path).resolve() == cleaned.resolve() and note.exists():
        made = json.loads(note.read_text())
        if made.get("source_sha256") == digest:
            dropped = set(made["dropped_error_lines"]) | set(made["dropped_duplicate_lines"])
            return origins.kept([n for n in range(1, len(origins.places) + 1) if n not in dropped])
    return None


def split_folder() -> Path | None:
    """Step 3's split, if it has been made."""
    p = work_dir("03_split")
    return p if (p / "manifest.json").exists() else None


def split_or_fallback(step: str) -> Path:
    """Step 3's split folder, or a split of the prepared dataset made inside ``step``'s folder."""
    from .data.dataset import load_jsonl
    from .data.split import split_examples, write_split

    made = split_folder()
    if made is not None:
        return made
    folder = work_dir(step) / "fallback_split"
    if not (folder / "manifest.json").exists():
        write_split(split_examples(load_jsonl(prepared_dataset()), seed=42), folder, overwrite=True)
    return folder


def manifest(step: str) -> dict[str, Any] | None:
    """What a step recorded, if it has run."""
    path = work_dir(step) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def evaluation_file() -> Path | None:
    """Step 5's answers of both models to the test split, if it has run."""
    path = work_dir("05_evaluate") / "outputs.jsonl"
    return path if path.exists() else None


def comparison_file() -> Path | None:
    """Step 5's comparison of the two models (metrics, statistics, the verdict), if it has run."""
    path = work_dir("05_evaluate") / "comparison.json"
    return path if path.exists() else None


def write_manifest(step: str, **info: Any) -> Path:
    """A small record of what a step produced, beside its artifacts."""
    path = work_dir(step) / "manifest.json"
    record = {"step": step, "package_version": __version__, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
    write_json_atomic(path, record, indent=2)
    return path


def review_queue_file() -> Path:
    """The learner's own prompts queued from the playground (steps 5 and 6) for step 6's blind review."""
    return work_dir("06_review") / "playground_queue.jsonl"


def exported_model_dir() -> Path:
    """Where the workbook keeps the fine-tuned model's export (its LoRA adapter, Ollama Modelfile and model card):
    step 4 writes it, step 6 renews it with step 5's verdict, and the download zip carries it."""
    return work_dir("04_train") / "model"


def archive_work(name: str = "my_work.zip") -> Path:
    """Everything the steps made, in one zip under ``downloads/`` of the work folder: a Binder session
    vanishes when it closes, so a learner downloads this to keep their data, model records, reviews and the
    exported model (`exported_model_dir`)."""
    base = work_dir()
    target = base / "downloads" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(base.rglob("*")):
            if path.is_file() and target.parent not in path.parents:
                archive.write(path, path.relative_to(base).as_posix())
    return target


def navigation(step: str) -> str:
    """A markdown line showing where a step sits among the six (then the further rounds, and the side lessons)."""
    parts = []
    for s in NOTEBOOKS:
        label = s.replace("_", " ")
        if s == step:
            parts.append(f"**{label}**")
        elif (ROOT / "notebooks" / f"{s}.ipynb").exists():
            parts.append(f"[{label}]({s}.ipynb)")
        else:
            parts.append(f"{label} (coming)")
    steps, lessons = parts[: len(STEPS)], parts[len(STEPS) : len(STEPS) + len(LESSONS)]
    rounds = parts[len(STEPS) + len(LESSONS) :]
    return " -> ".join(steps) + " | then: " + ", ".join(rounds) + " | side lesson: " + ", ".join(lessons)


def judge_check_file() -> Path:
    """Step 6's measure of a model judge against the learner's reviews (`ftwidgets.review.judge.JudgeCheck`),
    which step 5 reports beside the judge's scores."""
    return work_dir("06_review") / "judge_check.json"


def save_judge_check(check) -> Path:
    write_json_atomic(judge_check_file(), check.to_dict(), indent=2)
    return judge_check_file()
