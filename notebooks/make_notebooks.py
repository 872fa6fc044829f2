"""Write notebooks 01-08 from this one source (outputs stripped). Run: python notebooks/make_notebooks.py"""

import textwrap
from pathlib import Path

import nbformat as nbf

from ftwidgets.workbook import navigation

HERE = Path(__file__).resolve().parent


def md(text):
    return nbf.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text, tags=()):
    cell = nbf.v4.new_code_cell(textwrap.dedent(text).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


PARAMS = code('''
import os
QUICK = os.environ.get("FTW_QUICK", "0") in ("1", "true")  # papermill: -p QUICK True for the short CI run
''', tags=["parameters"])


def notebook(step, title, goal, cells, recap, next_step, out_dir=HERE):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nav = navigation(step)
    nb.cells = [md(f"# {title}\n\n{goal}\n\n{nav}"), PARAMS, *cells,
                md(f"## Recap\n\n{recap}\n\nNext: [{next_step}]({next_step}.ipynb)" if next_step else f"## Recap\n\n{recap}")]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{step}-{i:02d}"  # stable ids: regenerating changes nothing
    nbf.write(nb, Path(out_dir) / f"{step}.ipynb")


def main(out_dir=HERE):
    notebook("01_prepare", "Step 1: prepare your examples",
             "At the end you will have a chat-format dataset (`data/work/01_prepare/dataset.jsonl`).", [
        md("Fine-tuning learns from examples of the conversations you want: a system prompt, a user turn, "
           "and the assistant answer to imitate. Start from a spreadsheet (CSV), a ShareGPT or Alpaca file, or JSONL."),
        code('''
    from ftwidgets import workbook
    from ftwidgets.dataset import DataError, from_csv, load_jsonl, to_dataframe, write_jsonl
    from ftwidgets.widgets import DataImport
    '''),
        md("**Choose a task** for the workbook's sample data: *Math tutor* teaches a style and a format (step-by-step "
           "explanations; a 135M model learns the layout, not the arithmetic), *Support routing* teaches a "
           "classification (a category and a priority as JSON; the model learns which words mean what, so its "
           "accuracy rises). Change it, then run the cells below again; steps 2-6 follow your choice."),
        code('''
    from ipywidgets import Dropdown
    from ftwidgets.tasks import TASKS
    sample_tasks = [(task.title, name) for name, task in TASKS.items() if task.sample]
    chosen = workbook.task()  # this step's last choice, else FTW_TASK, else the math tutor
    task_choice = Dropdown(options=sample_tasks, value=chosen.name if chosen.sample else "math_tutor", description="Task")
    task_choice
    '''),
        md("**Your own data.** Upload a CSV, JSON or JSONL file (up to 50 MB), or type the path of a file on this "
           "machine. For a CSV, choose which column holds the user's message, the answer and (optionally) the "
           "system prompt, then press **Convert**: you see the first converted examples, and every record that "
           "could not be converted, with its number and the reason. ShareGPT, Alpaca and prompt/completion files "
           "are recognised by themselves. Then run the cells below again. Without a file, the workbook uses its sample."),
        code('''
    importer = DataImport(workbook.work_dir("01_prepare") / "uploads")
    importer
    '''),
        md("How a CSV converts: columns `system`/`user`/`assistant` (or `prompt`/`completion`) become messages."),
        code('''
    from_csv_examples = from_csv(workbook.SAMPLES / "math_tutor.csv")
    to_dataframe(from_csv_examples).head()
    '''),
        md("Column names that do not say what they hold, with no choice made, get a clear message, and nothing is "
           "written:"),
        code('''
    import tempfile
    from pathlib import Path
    import pandas as pd
    bad_csv = Path(tempfile.mkdtemp()) / "mine.csv"
    pd.DataFrame({"column_a": ["2+2?"], "column_b": ["4"]}).to_csv(bad_csv, index=False)
    try:
        from_csv(bad_csv)
    except DataError as err:
        print("Clear message:", err)
    '''),
        md("The dataset for the next steps: yours if you converted one above, else the chosen task's sample (style, "
           "format and classification suit fine-tuning; teaching facts does not)."),
        code('''
    task = TASKS["own_data"] if importer.examples else TASKS[task_choice.value]
    examples = importer.examples or load_jsonl(workbook.SAMPLES / task.sample)
    print(len(examples), "examples from", importer.source if importer.examples else "the sample", "- it teaches", task.what_it_teaches)
    print(examples[0]["messages"][-1]["content"])
    '''),
        md("### Checkpoint"),
        code('''
    assert len(examples) >= 100, "Fewer than 100 examples: collect more before fine-tuning."
    '''),
        code('''
    out = workbook.work_dir("01_prepare") / "dataset.jsonl"
    write_jsonl(out, examples, overwrite=True, protect=[*filter(None, [importer.source]), *(workbook.SAMPLES / t.sample for t in TASKS.values() if t.sample)])
    workbook.write_manifest("01_prepare", dataset=out.name, examples=len(examples), task=task.name)
    '''),
    ], "You turned raw examples into OpenAI chat JSONL and saw how a wrong column is reported.", "02_validate", out_dir)

    notebook("02_validate", "Step 2: validate before you train",
             "At the end you will know your file is correct OpenAI chat JSONL, what it costs, and whether it teaches style or facts.", [
        code('''
    from ftwidgets import workbook
    from ftwidgets.validate import validate_file
    from ftwidgets.widgets import DatasetReport, DropFlagged, ValidationTable
    dataset = workbook.prepared_dataset()
    dataset
    '''),
        md("First, a deliberately broken file: every error has a code, a line and a fix. Filter by severity or code, "
           "and type a line number to see the example."),
        code('''
    ValidationTable(validate_file(workbook.SAMPLES / "broken.jsonl"))
    '''),
        md("Now your dataset: errors block training, warnings are worth reading."),
        code('''
    report = validate_file(dataset)
    ValidationTable(report)
    '''),
        md("**A way on.** Examples with errors, and exact repeats of an earlier example, can be dropped with one "
           "click into a new file (`data/work/02_validate/dataset.cleaned.jsonl`); your file is never changed. The "
           "new file is validated again, and the next steps use it. Or fix your file and run step 1 again."),
        code('''
    way_on = DropFlagged(report, on_drop=workbook.drop_flagged_examples)
    way_on
    '''),
        md("**What the model learns from.** A job trains on the assistant replies only: the system and user turns, "
           "replies with `weight: 0` and the template's own tokens are context. Here are your first examples as the "
           "job sees them (through the model's chat template on the embedded engine; on OpenAI, its documented rule), "
           "the trained text highlighted. An example that trains on nothing is an error: a job would learn nothing "
           "from it."),
        code('''
    import os
    from ftwidgets.labels import engine_label_report, openai_label_report
    from ftwidgets.widgets import TrainedTokens
    on_openai = os.environ.get("FTW_BACKEND", "engine") in ("openai", "azure")
    labelled = dataset
    labels = openai_label_report(dataset) if on_openai else engine_label_report(dataset)  # `ftw labels` in a process of its own
    TrainedTokens(labels)
    '''),
        md("Tokens, cost, lengths, duplicates, diversity and the fact-versus-style verdict:"),
        code('''
    DatasetReport(report)
    '''),
        md("The same check on a dataset of facts (islands and their capitals) says: use retrieval, not fine-tuning. "
           "The side lesson [07 facts need retrieval](07_facts_need_retrieval.ipynb) measures why."),
        code('''
    print(validate_file(workbook.SAMPLES / "facts.jsonl").quality["fact_verdict"]["sentence"])
    '''),
        md("### Checkpoint"),
        code('''
    dataset = workbook.prepared_dataset()  # the cleaned file, once you have pressed the button above
    if str(dataset) != report.path:
        print("Checking the cleaned file:", dataset.name)
        report = validate_file(dataset)
    assert report.valid, (f"{report.error_count} error(s) are listed above: press the Drop button above to go on "
                          "without those examples, or fix your file and run step 1 again.")
    if dataset != labelled:  # the cleaned file: its own trained tokens
        labels = openai_label_report(dataset) if on_openai else engine_label_report(dataset)
    assert labels.ok, f"Examples on lines {labels.untrained_lines} train on nothing: give their replies a weight of 1."
    assert not report.quality["fact_verdict"]["looks_like_facts"], "This data teaches facts: use retrieval (RAG) instead."
    workbook.write_manifest("02_validate", dataset=str(dataset), valid=report.valid, counts=dict(report.counts), tokens=report.tokens)
    print(f"{dataset.name} passed every rule: {report.examples} examples, {report.tokens['billable_tokens']:,} billable tokens.")
    '''),
    ], "You checked your file against every rule, with a way on where examples broke one, and saw its token count, "
       "cost and quality.", "03_split", out_dir)

    notebook("03_split", "Step 3: split 80/10/10",
             "At the end you will have train, validation and test files with no example leaking between them.", [
        code('''
    from ftwidgets import workbook
    from ftwidgets.dataset import load_jsonl
    from ftwidgets.split import split_examples, write_split
    from ftwidgets.widgets import SplitView
    examples = load_jsonl(workbook.prepared_dataset())
    '''),
        md("Train on 80%, watch validation loss on 10%, and keep 10% as a **test set you never train or tune on**. "
           "Copies and near copies stay together, so the test set is honest."),
        code('''
    result = split_examples(examples, seed=42, stratify="system")
    SplitView(result)
    '''),
        md("### Checkpoint"),
        code('''
    assert not result.leaks, "Some test or validation examples copy training ones: click the fix button above."
    assert abs(len(result.test) / len(examples) - 0.1) < 0.02, "The test split should hold about 10% of the data."
    manifest = write_split(result, workbook.work_dir("03_split"), source=workbook.prepared_dataset(), overwrite=True)
    manifest["counts"]
    '''),
    ], "You have an 80/10/10 split with a manifest of counts and checksums.", "04_train", out_dir)

    notebook("04_train", "Step 4: fine-tune with conservative settings",
             "At the end you will have a fine-tuned model on the embedded engine (no key, no network), with its loss curves.", [
        md("**Backends.** The embedded engine (default) really fine-tunes SmolLM2-135M-Instruct on your CPU. "
           "Set `FTW_BACKEND=openai` (with `OPENAI_API_KEY` in the environment, never in the notebook) to use OpenAI, "
           "which stops new self-serve fine-tuning jobs on **2027-01-06** and retires gpt-4o, gpt-4o-mini, gpt-4.1 and "
           "gpt-4.1-mini, fine-tuned variants included, on **2027-01-14**. After that, `FTW_BACKEND=azure` (Azure "
           "OpenAI: `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, `OPENAI_API_VERSION`) runs these same cells, "
           "and the embedded engine keeps working offline."),
        code('''
    import os
    import ftwidgets
    from ftwidgets import workbook
    from ftwidgets.dataset import load_jsonl, write_jsonl
    from ftwidgets.hyperparams import PlanBlocked, supervised_method
    from ftwidgets.training import chosen_model, launch_or_attach
    from ftwidgets.widgets import HyperparameterPanel, JobMonitor
    from ipywidgets import Password
    BACKEND = os.environ.get("FTW_BACKEND", "engine")
    key_box = Password(description="OpenAI key")  # for FTW_BACKEND=openai without OPENAI_API_KEY; kept in memory only
    key_box if BACKEND == "openai" and not os.environ.get("OPENAI_API_KEY") else None
    '''),
        code('''
    client = ftwidgets.client(BACKEND, **({"api_key": key_box.value} if BACKEND == "openai" and key_box.value else {}))
    '''),
        md("Inputs: step 3's split, or a split of the sample made here."),
        code('''
    split = workbook.split_or_fallback("04_train")
    train, valid = load_jsonl(split / "train.jsonl"), load_jsonl(split / "validation.jsonl")
    if QUICK:  # the short run (CI): the rules' minimum of 100 examples, every setting as a learner's
        print(f"QUICK: training on the first 100 of {len(train)} examples and 16 of {len(valid)} for validation")
        train, valid = train[:100], valid[:16]
    len(train), len(valid)
    '''),
        code('''
    train_file, valid_file = workbook.work_dir("04_train") / "train.jsonl", workbook.work_dir("04_train") / "validation.jsonl"
    write_jsonl(train_file, train, overwrite=True); write_jsonl(valid_file, valid, overwrite=True)
    state = workbook.work_dir("04_train") / "job.json"  # this step's job id: a restarted kernel re-attaches
    '''),
        md("**What the model learns from**, in the very file the job gets: the highlighted text trains, the rest is "
           "context. Step 2 showed the same for your dataset."),
        code('''
    from ftwidgets.labels import engine_label_report, openai_label_report
    from ftwidgets.widgets import TrainedTokens
    labels = (openai_label_report if BACKEND in ("openai", "azure") else engine_label_report)(train_file, show=1)
    TrainedTokens(labels)
    '''),
        md("## First, a small search\n\nA few learning rates, one epoch each on a subset (100 examples, 16 for "
           "validation), compared by **validation** loss (never test data). The panel below opens at the winner; "
           "change it if you like, then train the main job on the whole split."),
        code('''
    from ftwidgets.training import best_by_validation, grid_search
    from ftwidgets.machine import cuda_available
    multipliers = (0.5, 1.0) if QUICK else (0.25, 0.5, 1.0, 2.0) if cuda_available() else (0.5, 1.0, 2.0)
    grid = [{"n_epochs": 1, "learning_rate_multiplier": m} for m in multipliers]
    sub_train, sub_valid = workbook.work_dir("04_train") / "grid_train.jsonl", workbook.work_dir("04_train") / "grid_valid.jsonl"
    write_jsonl(sub_train, train[:100], overwrite=True); write_jsonl(sub_valid, valid[:16], overwrite=True)
    search_model = "gpt-4o-mini-2024-07-18" if BACKEND in ("openai", "azure") else "smollm2-135m-instruct"
    results = grid_search(client, sub_train, sub_valid, grid, base={"model": search_model, "seed": 42},
                          state_dir=workbook.work_dir("04_train"))
    '''),
        code('''
    import plotly.graph_objects as go
    best = best_by_validation(results)
    fig = go.Figure()
    for r in results:  # each setting's validation points, joined: the losses are measured every few steps
        points = [(s, v) for s, v in zip(r.steps, r.valid_loss) if v is not None]
        winner = " (winner)" if r is best else ""
        fig.add_scatter(x=[s for s, _ in points], y=[v for _, v in points], mode="lines+markers",
                        name=f"lr x{r.settings['learning_rate_multiplier']}{winner}", line=dict(width=4 if winner else 2))
    fig.update_layout(title=f"validation loss per setting: lr x{best.settings['learning_rate_multiplier']} wins",
                      xaxis_title="step", yaxis_title="validation loss", height=320); fig.show()
    print(f"best by validation loss: lr x{best.settings['learning_rate_multiplier']} ({best.final_valid_loss:.3f}); "
          "the panel below starts there")
    '''),
        md("## The main job"),
        md("Choose the settings: 2-4 epochs and a low learning rate, then press **Launch**: the job's monitor "
           "appears below the button. Try 50 epochs: the panel refuses, and so does every other way to launch.\n\n"
           "**Early stopping** is on: the job watches its validation loss, stops when it has not improved for a "
           "while, and keeps the model from its best step, so a few epochs too many cost nothing. (OpenAI has no "
           "early stopping; there the checkpoint with the lowest validation loss is chosen after the job.)"),
        code('''
    def launch(settings):
        """The Launch button and the launch cell below both come here: one job per setting, never a blocked plan."""
        monitor = JobMonitor(client, launch_or_attach(client, train_file, valid_file, settings, state))
        monitor.watch(every=2)  # live curves while the job trains
        return monitor

    from ftwidgets.tokens import count_message_tokens
    train_tokens = [count_message_tokens(example["messages"]) for example in train]  # this file's own tokens, as step 2 counts them
    panel = HyperparameterPanel(len(train), example_tokens=train_tokens, early_stopping=BACKEND not in ("openai", "azure"))
    panel.lr.value = best.settings["learning_rate_multiplier"]  # the search's winner; yours to change
    panel.on_launch(launch)
    panel
    '''),
        md("The mistakes the rules stop: 30 examples, or 50 epochs, leave Launch disabled and say why. "
           "Going around the panel does not help: the launch function refuses the same plan, and creates nothing."),
        code('''
    too_few = HyperparameterPanel(30)
    too_many = HyperparameterPanel(1000); too_many.auto_epochs.value = False; too_many.epochs.value = 50
    for mistake in (too_few, too_many):
        print("Launch disabled:", mistake.launch.disabled, "-", " ".join(g.message for g in mistake.plan.guards))
    try:
        launch({**panel.settings, "method": supervised_method({"n_epochs": 50})})
    except PlanBlocked as refusal:
        print(refusal)
    '''),
        md("Launch: the same as pressing the button (headless runs launch with the panel's settings). If you already "
           "pressed Launch, this attaches to that job; a restarted kernel re-attaches too. A blocked plan stops here "
           "with the rule's words."),
        code('''
    monitor = panel.launch_now()
    job_id = monitor.job_id
    monitor
    '''),
        code('''
    status = monitor.wait(every=2)
    status
    '''),
        md("### Checkpoint"),
        code('''
    assert status == "succeeded", f"The job ended {status}: read the error above."
    job = client.fine_tuning.jobs.retrieve(job_id)
    model, why = chosen_model(client, job_id)
    print("evaluating", why)
    workbook.write_manifest("04_train", job_id=job_id, fine_tuned_model=model, base_model=job.model,
                            hyperparameters=job.hyperparameters.model_dump())
    '''),
        md("**Take your model with you.** The engine's model leaves as its LoRA adapter (a few MB), with an Ollama "
           "`Modelfile` and a model card: step 6 puts it in your download. `ftw export MODEL --format merged` or "
           "`--format gguf` in a terminal gives a whole Hugging Face folder or one GGUF file for llama.cpp and Ollama. "
           "(OpenAI never hands out the weights of the models it fine-tunes.)"),
        code('''
    if BACKEND in ("openai", "azure"):
        print(f"{model} stays with {BACKEND}: its weights cannot be downloaded.")
    else:
        try:
            exported = ftwidgets.export(model, "adapter", workbook.exported_model_dir(), force=True)
            print(f"{model} exported to {exported}:", ", ".join(sorted(p.name for p in exported.iterdir())))
        except ftwidgets.ExportError as why:
            print("Not exported:", why)
    '''),
    ], "You compared settings by validation loss on a subset, then fine-tuned a real model with the winner and guarded "
       "settings, and watched its loss curves.", "05_evaluate", out_dir)

    notebook("05_evaluate", "Step 5: compare with the base model on the test set",
             "At the end you will know, with confidence intervals, whether fine-tuning helped "
             "(`data/work/05_evaluate/comparison.json`).", [
        md("A fine-tuned model means nothing until it beats the model you started from, on examples it never saw. "
           "Both models answer the **held-out test split** (never training or validation data)."),
        code('''
    import os
    import ftwidgets
    from ftwidgets import workbook
    from ftwidgets.evaluate import compare, evaluate, held_out_test_items
    from ftwidgets.metrics import llm_judge
    from ftwidgets.training import train_small
    from ftwidgets.widgets import ComparisonView
    client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
    task = workbook.task()
    '''),
        md("Inputs: step 3's test split and step 4's model (or, if those steps were not run, a sample split and a "
           "small model trained here in a minute or two). The split's train and validation files are checked: "
           "a test prompt seen in training stops the evaluation."),
        code('''
    split = workbook.split_or_fallback("05_evaluate")
    items = held_out_test_items(split)
    print(items.note())  # a prompt repeated in the test split counts once: every n below is this one
    if QUICK:  # the short run (CI)
        print(f"QUICK: evaluating the first 24 of {len(items)} test items"); items = items[:24]
    trained = workbook.manifest("04_train") or {}
    tuned = trained.get("fine_tuned_model") or train_small(client, split, workbook.work_dir("05_evaluate"))
    models = {"base": trained.get("base_model", "smollm2-135m-instruct"), "fine_tuned": tuned}
    len(items), models
    '''),
        md("**Metrics**, the task's own. Math tutor: format compliance (the taught `Step 1: ... Answer: N` shape), "
           "answer accuracy (the final number), and two overlap scores. Support routing: valid JSON, label accuracy "
           "(category and priority both right), and each label on its own. Your own data: word overlap with the "
           "reference answers. Set `FTW_JUDGE_MODEL` to add an LLM judge with a rubric, through any OpenAI-compatible model."),
        code('''
    metrics = task.metrics()
    if os.environ.get("FTW_JUDGE_MODEL"):
        metrics.append(llm_judge(client, os.environ["FTW_JUDGE_MODEL"]))
    [m.name for m in metrics]
    '''),
        md("Both models answer every test prompt, 32 requests at a time (the embedded engine batches them). "
           "Answers are saved as they arrive: re-running this cell after a crash only asks for the missing ones."),
        code('''
    from IPython.display import display
    from ftwidgets.widgets import ProgressBar
    progress = ProgressBar("Answers"); display(progress)  # each model's answers as they come in, and the time left
    evaluation = evaluate(client, items, models, cache_dir=workbook.work_dir("05_evaluate"), concurrency=32, max_tokens=task.max_tokens,
                          on_progress=progress.update)
    evaluation.errors()
    '''),
        md("**Honest statistics.** A test split of a few dozen items is small: each difference comes with a "
           "paired bootstrap 95% interval, and pass/fail metrics with McNemar's exact test. Disagreements are listed first."),
        code('''
    comparison = compare(evaluation, metrics)
    ComparisonView(comparison)
    '''),
        code('''
    print(comparison.verdict())
    '''),
        md("### Checkpoint"),
        code('''
    assert not any(evaluation.errors().values()), "Some answers failed to generate: read the errors above and re-run."
    assert {r.metric for r in comparison.results} >= set(task.key_metrics), "Compare on the task's own metrics."
    evaluation.save(workbook.work_dir("05_evaluate") / "outputs.jsonl")
    comparison.save(workbook.work_dir("05_evaluate"))
    workbook.write_manifest("05_evaluate", models=models, items=len(items), verdict=comparison.verdict())
    '''),
        md("**Try it yourself: the playground.** Type any prompt: the base model and the fine-tuned one answer side "
           "by side, streamed, with the system prompt they were trained with. Turn the temperature up to see how "
           "answers vary. **Add to review** puts the prompt and both answers into step 6, where you judge them blind, "
           "apart from the test set (whose statistics above they never change)."),
        code('''
    from ftwidgets.widgets import ChatCompare
    trained_system = next((m["content"] for m in items[0].messages if m["role"] == "system"), None)
    playground = ChatCompare(client, models=[models["base"], models["fine_tuned"]], labels=["base", "fine-tuned"],
                             system=trained_system, review_queue=workbook.review_queue_file())
    playground
    '''),
    ], "You compared the fine-tuned model with its base on held-out data, with intervals and p-values instead of a bare number.",
        "06_review", out_dir)

    notebook("06_review", "Step 6: review the answers yourself, blind",
             "At the end you will have your own judgement of the two models (`data/work/06_review/`), "
             "and preference data to start a DPO round.", [
        md("Metrics miss things only a person sees. Here each test prompt shows the two models' answers as **A** and "
           "**B**, in random order and without names, so you judge the answers, not the labels."),
        code('''
    import os
    import ftwidgets
    from ftwidgets import workbook
    from ftwidgets.evaluate import Evaluation, evaluate, held_out_test_items
    from ftwidgets.review import ReviewStore, export_review, people, review_items, rule_review, summarize
    from ftwidgets.training import train_small
    from ftwidgets.widgets import ABReview, DownloadButton, ReviewSummaryView
    '''),
        md("Inputs: step 5's answers, or (if step 5 was not run) a short evaluation made here."),
        code('''
    source = workbook.evaluation_file()
    if source is None:
        client, split = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine")), workbook.split_or_fallback("06_review")
        models = {"base": "smollm2-135m-instruct", "fine_tuned": train_small(client, split, workbook.work_dir("06_review"))}
        from IPython.display import display
        from ftwidgets.widgets import ProgressBar
        progress = ProgressBar("Answers"); display(progress)
        source = evaluate(client, held_out_test_items(split)[:24], models, cache_dir=workbook.work_dir("06_review"),
                          concurrency=32, max_tokens=workbook.task().max_tokens,
                          on_progress=progress.update).save(workbook.work_dir("06_review") / "outputs.jsonl")
    items = review_items(Evaluation.load(source))
    len(items)
    '''),
        md("Type your name, then judge: **A is better**, **B is better**, **tie** or **both bad**; optionally score "
           "each answer 1-5, tag it and comment. The keyboard strip under the buttons takes the focus when the review "
           "appears (it turns blue and says *Keyboard on*): keys 1-4, s (skip) and u (undo) then go to the review, not "
           "to the notebook. If it says *Keyboard off*, click it. "
           "Every click is saved to disk at once: close the notebook any time and come back to where you stopped."),
        code('''
    store = ReviewStore(workbook.work_dir("06_review") / "reviews.jsonl")
    review = ABReview(items, store, reviewer=os.environ.get("FTW_REVIEWER", ""))
    review
    '''),
        md("A second opinion: an automatic reviewer (named `rule:metrics`, never mistaken for a person) prefers the "
           "answer that passes more of the task's checks (math: the format and the final number; routing: valid JSON "
           "and the right labels). The summary below counts **people only** once someone has "
           "reviewed (until then, the automatic reviewer, and it says so), and it refreshes after each of your decisions; "
           "your agreement with the automatic reviewer is reported on its own line."),
        code('''
    rule_review(store, items, workbook.task().review_metrics())

    def current_summary():
        return summarize(store, reviewers=people(store) or None)

    summary_view = ReviewSummaryView(current_summary())
    review.on_decision(lambda: summary_view.update(current_summary()))
    summary_view
    '''),
        md("**Your own prompts**, from the playground in step 5 (and the one below): reviewed blind the same way, "
           "kept apart from the test set's reviews, so they never change its statistics."),
        code('''
    from ftwidgets.review import queued_items
    own_prompts = queued_items(workbook.review_queue_file())
    if own_prompts:
        own_review = ABReview(own_prompts, ReviewStore(workbook.work_dir("06_review") / "playground_reviews.jsonl"),
                              reviewer=os.environ.get("FTW_REVIEWER", ""))
    else:
        own_review = "No prompt added from the playground yet: type one below, press Send, then Add to review."
    own_review
    '''),
        code('''
    from ftwidgets.widgets import ChatCompare
    evaluated = Evaluation.load(source).models  # the two models these answers came from
    ChatCompare(ftwidgets.client(os.environ.get("FTW_BACKEND", "engine")), models=[evaluated["base"], evaluated["fine_tuned"]],
                labels=["base", "fine-tuned"], system=next((m["content"] for m in items[0].messages if m["role"] == "system"), None),
                review_queue=workbook.review_queue_file())
    '''),
        md("**Export.** Every decision to CSV; decisions with a winner (where reviewers agree) to OpenAI's preference "
           "(DPO) format, checked by the same validator as training data (the start of a preference-tuning round), "
           "and the agreement with the automatic reviewer. They are made now, from the decisions so far, and made "
           "again from all your decisions when you press **Download** below."),
        code('''
    def make_exports():
        made = export_review(store, items, workbook.work_dir("06_review"))
        workbook.write_manifest("06_review", reviewers=store.reviewers(), decisions=made.summary.decisions,
                                summary=made.summary.sentence(), preference_pairs=made.preferences.usable_examples,
                                exports_made_at=made.made_at)
        return made

    exports = make_exports()
    print(exports.describe())
    '''),
        md("### Checkpoint"),
        code('''
    preferences = exports.preferences
    assert preferences.valid or preferences.usable_examples == 0, "The preference file has errors: see the report above."
    '''),
        md("**Your model, in your download.** The fine-tuned model these answers came from, as its LoRA adapter with "
           "an Ollama `Modelfile` and a model card that now carries step 5's verdict. Its card says how to run it with "
           "transformers and PEFT, or with Ollama."),
        code('''
    fine_tuned = Evaluation.load(source).models["fine_tuned"]
    if os.environ.get("FTW_BACKEND", "engine") in ("openai", "azure"):
        print(f"{fine_tuned} stays with OpenAI or Azure: its weights cannot be downloaded.")
    else:
        try:
            exported = ftwidgets.export(fine_tuned, "adapter", workbook.exported_model_dir(), force=True)
            print((exported / "README.md").read_text().split("## Evaluation", 1)[1])
        except ftwidgets.ExportError as why:
            print("Not exported:", why)
    '''),
        md("**Download your work.** Everything the steps made (your data, the split, the job records, the answers, "
           "your reviews, the preference file and your model) in one zip, made when you press the button, so it holds "
           "every review you have made. On Binder, download it before you close the tab: "
           "the session and its files vanish."),
        code('''
    def my_work():
        made = make_exports()  # every review so far is in the CSV, the preferences and the summary
        return workbook.archive_work(), f"Its exports were made from {made.summary.decisions} decision(s)."

    DownloadButton(my_work, label="Download my work (zip)")
    '''),
    ], "You reviewed the answers blind, measured agreement, and exported preferences for a DPO round.",
        "08_preference_tuning", out_dir)

    notebook("07_facts_need_retrieval", "Side lesson: facts need retrieval, not fine-tuning",
             "At the end you will have measured, on questions the models never saw, what fine-tuning on facts "
             "gives and what retrieval gives (`data/work/07_facts/manifest.json`).", [
        md("Step 2 warns when a dataset teaches facts: fine-tuning changes *how* a model answers, and is a poor way "
           "to put knowledge into it. Here is the measurement behind the warning. The facts are about 50 islands "
           "that do not exist, so no model knows them beforehand: whatever a model answers right, it learned from "
           "the training data or read in the documents."),
        code('''
    import os
    import pandas as pd
    import ftwidgets
    from ftwidgets import workbook
    from ftwidgets.dataset import load_jsonl, write_jsonl
    from ftwidgets.evaluate import compare
    from ftwidgets.metrics import contains_answer
    from ftwidgets.retrieval import DocumentIndex, evaluate_with_retrieval, fact_table, question_items, questions_by_kind
    from ftwidgets.split import split_examples
    from ftwidgets.training import chosen_model, launch_or_attach
    from ftwidgets.validate import validate_file
    from ftwidgets.widgets import ComparisonView, HyperparameterPanel, JobMonitor
    '''),
        code('''
    client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
    facts = load_jsonl(workbook.SAMPLES / "facts.jsonl")
    print(validate_file(workbook.SAMPLES / "facts.jsonl").quality["fact_verdict"]["sentence"])
    facts[0]["messages"][1:]
    '''),
        md("Suppose we ignore the warning and fine-tune anyway, by the rules: an 80/10/10 split, the workbook's own "
           "settings (epochs \"auto\", learning-rate multiplier 1, early stopping on). QUICK changes nothing here: "
           "the data is small already."),
        code('''
    split = split_examples(facts, seed=42)
    out = workbook.work_dir("07_facts")
    train_file, valid_file = out / "train.jsonl", out / "validation.jsonl"
    write_jsonl(train_file, split.train, overwrite=True); write_jsonl(valid_file, split.validation, overwrite=True)
    panel = HyperparameterPanel(len(split.train), early_stopping=os.environ.get("FTW_BACKEND", "engine") not in ("openai", "azure"))
    monitor = JobMonitor(client, launch_or_attach(client, train_file, valid_file, panel.settings, out / "job.json"))
    monitor.watch(every=2)
    monitor
    '''),
        code('''
    assert monitor.wait(every=2) == "succeeded", "The job did not succeed: read its events above."
    base_model = client.fine_tuning.jobs.retrieve(monitor.job_id).model
    fine_tuned, why = chosen_model(client, monitor.job_id)
    print("fine-tuned:", why)
    '''),
        md("**Held-out questions.** Every fact is asked again *in other words* (the models never saw these questions). "
           "Three kinds: facts that were in the training data, facts that were not (the test split's), and islands "
           "that are in no document at all, where the only right answer is \"I don't know\"."),
        code('''
    groups = questions_by_kind(load_jsonl(workbook.SAMPLES / "facts_questions.jsonl"), split.train, split.test)
    answerable = groups["trained"][:24] + groups["not trained"]
    absent = groups["not in the documents"]
    {kind: len(qs) for kind, qs in groups.items()}, len(answerable)
    '''),
        md("**Retrieval.** The same facts as one short document per island, searched with BM25 (`bm25s`); the two best "
           "passages go into the prompt of the *base* model. A question that matches no document gets \"not found\" "
           "without asking the model."),
        code('''
    index = DocumentIndex.from_jsonl(workbook.SAMPLES / "facts_documents.jsonl")
    question = answerable[0]["question"]
    question, [(p.text, round(p.score, 2)) for p in index.search(question)]
    '''),
        md("Three systems answer every held-out question: the base model, the fine-tuned model, and the base model "
           "with retrieval. The share each gets right, by kind of question (for islands in no document, right means "
           "saying it does not know):"),
        code('''
    system = facts[0]["messages"][0]["content"]
    items = question_items(answerable + absent, system)
    from IPython.display import display
    from ftwidgets.widgets import ProgressBar
    progress = ProgressBar("Answers"); display(progress)
    evaluation = evaluate_with_retrieval(client, items, {"base": base_model, "fine_tuned": fine_tuned}, index,
                                         reader=base_model, cache_dir=out, concurrency=32, max_tokens=48,
                                         on_progress=progress.update)
    table = fact_table(evaluation, [q["kind"] for q in answerable + absent])
    shares = table.groupby("kind", sort=False)[[f"{label} right" for label in evaluation.outputs]].mean().round(2)
    '''),
        md("The headline: the share each system gets right, by kind of question (the numbers are in the table below it)."),
        code('''
    import plotly.graph_objects as go
    names = {"base": "base model", "fine_tuned": "fine-tuned on the facts", "retrieval": "base model + retrieval"}
    fig = go.Figure([go.Bar(name=names.get(label, label), x=list(shares.index), y=shares[f"{label} right"],
                            text=[f"{v:.0%}" for v in shares[f"{label} right"]], textposition="outside")
                     for label in evaluation.outputs])
    fig.update_layout(barmode="group", height=360, yaxis=dict(title="share right", range=[0, 1.1], tickformat=".0%"),
                      title="Facts need retrieval: the share right by kind of question"); fig.show()
    shares
    '''),
        md("**Retrieval against the fine-tuned model** on the answerable questions (the answer contains the fact): a "
           "paired bootstrap interval and McNemar's exact test, as in step 5."),
        code('''
    scored = evaluation.select(range(len(answerable)))
    comparison = compare(scored, [contains_answer()], baseline="fine_tuned", candidate="retrieval")
    ComparisonView(comparison)
    '''),
        code('''
    print(comparison.verdict())
    print(compare(scored, [contains_answer()], baseline="base", candidate="fine_tuned").verdict())
    '''),
        md("The answers side by side, the fine-tuned model's **confident wrong answers** first: it learned the shape "
           "of an answer (\"The capital of X is Y.\") and fills in a name or a year that sounds right."),
        code('''
    table[table.kind != "not in the documents"][["kind", "question", "reference", "fine_tuned", "retrieval", "base"]].head(12)
    '''),
        md("**Islands in no document.** Retrieval finds nothing and says so; a model fine-tuned on facts answers anyway."),
        code('''
    table[table.kind == "not in the documents"][["question", "fine_tuned", "retrieval", "base"]]
    '''),
        md("### Checkpoint"),
        code('''
    assert not any(evaluation.errors().values()), "Some answers failed to generate: re-run the evaluation cell."
    answered, unknown = table[table.kind != "not in the documents"], table[table.kind == "not in the documents"]
    accuracy = {label: round(float(answered[f"{label} right"].mean()), 3) for label in evaluation.outputs}
    admits = {label: round(float(unknown[f"{label} right"].mean()), 3) for label in evaluation.outputs}
    workbook.write_manifest("07_facts", items=len(answered), accuracy=accuracy, models=evaluation.models,
                            not_in_documents={"items": len(unknown), "admits_not_knowing": admits}, verdict=comparison.verdict())
    accuracy
    '''),
    ], "You measured it: retrieval answers facts it can read, fine-tuning does not reliably add them, and a model "
       "fine-tuned on facts invents answers where retrieval can say it found nothing.", None, out_dir)

    notebook("08_preference_tuning", "Step 8: preference tuning (DPO), measured",
             "At the end you will know whether preference tuning made your fine-tuned model better on the test split "
             "(`data/work/08_preference_tuning/manifest.json`).", [
        md("Supervised fine-tuning imitates examples. **Preference tuning** (DPO, Direct Preference Optimization) learns "
           "from comparisons instead: for one prompt, *this* answer is better than *that* one. Here your fine-tuned model "
           "answers prompts from your **training and validation splits** twice; each pair is judged blind; the pairs "
           "with a winner train a DPO job that starts from your fine-tuned model. Then the new model meets the "
           "fine-tuned one on the **untouched test split**, with step 5's metrics and statistics. DPO does not always "
           "help, and this step says so when it does not."),
        code('''
    import os
    import ftwidgets
    from ftwidgets import workbook
    from ftwidgets.evaluate import held_out_test_items
    from ftwidgets.preference_round import SAMPLES, preference_prompts
    from ftwidgets.training import train_small
    client = ftwidgets.client(os.environ.get("FTW_BACKEND", "engine"))
    task = workbook.task()
    here = workbook.work_dir("08_preference_tuning")
    '''),
        md("Inputs: step 3's split and step 4's model (or a sample split and a small model trained here). The prompts "
           "come from the training and validation files only: a pair learned from a test prompt would make the "
           "comparison below meaningless, so a test prompt is refused."),
        code('''
    split = workbook.split_or_fallback("08_preference_tuning")
    trained = workbook.manifest("04_train") or {}
    tuned = trained.get("fine_tuned_model") or train_small(client, split, here)
    prompts = preference_prompts(split, limit=48 if QUICK else None)
    print(f"{len(prompts)} prompts from the training and validation splits, none of the "
          f"{len(held_out_test_items(split))} test prompts; the model: {tuned}")
    '''),
        md("**Two answers to each prompt**, sampled (temperature 1) with different seeds, so they differ, and judged "
           "blind as they come by an automatic reviewer (`rule:metrics`), so the round also runs without you. For the "
           "math tutor it prefers the right final answer, and between two answers alike in that, the one with more "
           "right sums in its steps. Prompts are sampled 100 at a time until 112 pairs have a winner (100 to train "
           "on, a tenth more to validate on): sampling is the slowest part of this step. A prompt whose two answers "
           "come out the same has nothing to prefer and is left out."),
        code('''
    from IPython.display import display
    from ftwidgets.preference_round import gather_pairs
    from ftwidgets.review import ReviewStore
    from ftwidgets.widgets import ProgressBar
    progress = ProgressBar("Answers"); display(progress)
    store = ReviewStore(here / "reviews.jsonl")
    pairs = gather_pairs(client, tuned, prompts, store, task.review_metrics(), enough=0 if QUICK else 112, chunk=48 if QUICK else 100,
                         cache_dir=here, max_tokens=task.max_tokens, on_progress=progress.update)
    print(f"{len(pairs)} prompts got two different answers")
    '''),
        md("**Judge them yourself**, as in step 6: A and B in random order, no names. A pair where you and the "
           "automatic reviewer disagree is left out."),
        code('''
    from ftwidgets.widgets import ABReview
    ABReview(pairs[:20], store, reviewer=os.environ.get("FTW_REVIEWER", ""), labels=SAMPLES)
    '''),
        code('''
    from ftwidgets.preference_round import write_pairs
    from ftwidgets.review import preference_records
    records = preference_records(store, pairs)
    files = write_pairs(records, here)
    (train_file, train_report), (valid_file, valid_report) = files["train"], files["validation"]
    print(f"{len(records)} preference pairs: {train_report.usable_examples} to train on, {valid_report.usable_examples} "
          f"to validate on (OpenAI's preference format, checked: {train_report.valid and valid_report.valid})")
    '''),
        md("**The DPO job** starts from your fine-tuned model. `beta` (0.1) sets how far it may move from it; the "
           "rules are the same as in step 4: at least 100 pairs (fewer need the explicit override), 2-4 epochs, "
           "early stopping on the validation pairs. The curve is the DPO loss; it starts at 0.69 (no preference yet)."),
        code('''
    from ftwidgets.early_stopping import EARLY_STOPPING_METADATA
    from ftwidgets.hyperparams import ALLOW_SMALL_METADATA, dpo_method
    from ftwidgets.training import chosen_model, launch_or_attach
    from ftwidgets.widgets import JobMonitor
    method = dpo_method({"n_epochs": 2, "beta": 0.1, "batch_size": 8})
    settings = {"model": tuned, "method": method, "seed": 42, "suffix": "dpo", "metadata": dict(EARLY_STOPPING_METADATA)}
    if QUICK and train_report.usable_examples < 100:  # the short run (CI) is a rehearsal, and says so
        print(f"QUICK: {train_report.usable_examples} pairs, under the rules' 100: a rehearsal, with the explicit override")
        settings["metadata"].update(ALLOW_SMALL_METADATA)
    job_id = launch_or_attach(client, train_file, valid_file, settings, here / "job.json", step="08_preference_tuning")
    monitor = JobMonitor(client, job_id); monitor.watch(every=2)
    monitor
    '''),
        code('''
    status = monitor.wait(every=2)
    assert status == "succeeded", f"The DPO job ended {status}: read the error above."
    preferred_model, why = chosen_model(client, monitor.job_id)
    print("comparing", why)
    '''),
        md("**The honest test.** Both models answer the held-out test split (the fine-tuned model's answers from "
           "step 5 are reused), scored with step 5's metrics; each difference has a paired 95% interval and a p-value."),
        code('''
    from ftwidgets.evaluate import compare, evaluate
    from ftwidgets.widgets import ComparisonView
    items = held_out_test_items(split)
    if QUICK:
        items = items[:24]
    models = {"fine_tuned": tuned, "preference_tuned": preferred_model}
    progress = ProgressBar("Answers"); display(progress)
    evaluation = evaluate(client, items, models, cache_dir=workbook.work_dir("05_evaluate"), concurrency=32,
                          max_tokens=task.max_tokens, on_progress=progress.update)
    comparison = compare(evaluation, task.metrics(), baseline="fine_tuned", candidate="preference_tuned")
    ComparisonView(comparison)
    '''),
        code('''
    from ftwidgets.preference_round import round_verdict
    verdict = round_verdict(comparison, [m.name for m in task.review_metrics()])  # what the preferences were about
    print(comparison.verdict()); print(verdict)
    '''),
        md("**A short blind review** of the two on test prompts: your judgement next to the numbers (and the automatic "
           "reviewer's, for a headless run)."),
        code('''
    from ftwidgets.review import people, review_items, rule_review, summarize
    from ftwidgets.widgets import ReviewSummaryView
    labels = ("fine_tuned", "preference_tuned")
    test_pairs = review_items(evaluation, labels)[:12]
    final_store = ReviewStore(here / "test_reviews.jsonl")
    rule_review(final_store, test_pairs, task.review_metrics(), labels=labels)
    display(ABReview(test_pairs, final_store, reviewer=os.environ.get("FTW_REVIEWER", ""), labels=labels))
    ReviewSummaryView(summarize(final_store, labels, reviewers=people(final_store) or None))
    '''),
        md("### Checkpoint"),
        code('''
    from ftwidgets.preference_round import check_apart
    check_apart([p for p in prompts if p.id in {r.id for r in pairs}], held_out_test_items(split))  # no test prompt trained
    assert not any(evaluation.errors().values()), "Some answers failed to generate: re-run the evaluation cell."
    comparison.save(here)
    workbook.write_manifest("08_preference_tuning", prompts=len(prompts), pairs=len(records), job_id=monitor.job_id,
                            fine_tuned_model=tuned, preference_tuned_model=preferred_model, verdict=verdict,
                            comparison=comparison.verdict())
    '''),
    ], "You gathered preferences on prompts the test never sees, trained a DPO model from your fine-tuned one, and "
       "measured it on the test split, including when it did not help.", "07_facts_need_retrieval", out_dir)


if __name__ == "__main__":
    main()
