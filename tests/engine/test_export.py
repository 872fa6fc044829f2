"""`ftw export` / `ftwidgets.export`: a fine-tuned model leaves the engine as an adapter, a merged folder or a GGUF
file, and the library that reads each format (PEFT, transformers, transformers' GGUF reader) gives the engine's
own greedy answers. Every refusal is one line and leaves nothing behind.

A seeded 4-layer Llama with SmolLM2's tokenizer trains in seconds; the engine serves it in float32, so the
exports must agree with it exactly (the real model's taught format is checked in test_trainer.py)."""

import errno
import hashlib
import json
import subprocess
import sys

import pytest

from ftwidgets.data.dataset import load_jsonl
from ftwidgets.engine import export as export_module
from ftwidgets.engine import gguf_file, models, start
from ftwidgets.engine.export import ExportError, export

from ..conftest import SAMPLES
from .conftest import tiny_job, upload

TRAIN = load_jsonl(SAMPLES / "math_tutor.jsonl")[:24]
PROMPTS = ["Solve 1 + 2.", "What is 7 times 3?", "Hello!"]
NEW_TOKENS = 8


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("seeded-llama")
    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_folder):
    """(engine handle, client, finished job, the engine's greedy answers per prompt)."""
    data = tmp_path_factory.mktemp("engine-export")
    handle = start(data, api_key="k", threads=1, base_models=(str(base_folder),), cpu_bf16=False)
    client = handle.client(max_retries=0, _strict_response_validation=True)
    job = tiny_job(client, str(base_folder), suffix="exp", seed=3)
    answers = [
        client.chat.completions.create(
            model=job.fine_tuned_model, messages=[{"role": "user", "content": p}], temperature=0, max_tokens=NEW_TOKENS
        )
        .choices[0]
        .message.content
        for p in PROMPTS
    ]
    yield handle, client, job, answers
    handle.stop()


# the code a user runs outside the project: only transformers and PEFT, offline, in a process of its own
OUTSIDE = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
kind, folder, extra, prompts, n = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])
if kind == "adapter":
    from peft import PeftModel
    tok = AutoTokenizer.from_pretrained(extra)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(extra, dtype=torch.float32), folder)
elif kind == "merged":
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
else:
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=extra)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=extra, dtype=torch.float32)
model.eval()
ends = [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]
out = []
for p in prompts:  # a user's text, or a whole conversation
    messages = [{"role": "user", "content": p}] if isinstance(p, str) else p
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=n, do_sample=False, eos_token_id=ends, pad_token_id=tok.pad_token_id)
    out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
print(json.dumps(out))
"""


def answers_outside(kind: str, folder, extra="", *, prompts=PROMPTS, new_tokens=NEW_TOKENS) -> list[str]:
    """Greedy answers to `prompts` (texts, or conversations) from an export, loaded and run in a process of its own
    that imports only transformers (and PEFT for an adapter), offline."""
    p = subprocess.run(
        [sys.executable, "-c", OUTSIDE, kind, str(folder), str(extra), json.dumps(prompts), str(new_tokens)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_the_adapter_loads_onto_the_base_with_peft_and_answers_as_the_engine(trained, tmp_path, base_folder):
    handle, client, job, engine_answers = trained
    out = export(job.fine_tuned_model, "adapter", tmp_path / "adapter", data_dir=handle.data_dir)
    assert sorted(p.name for p in out.iterdir()) == [
        "Modelfile",
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert answers_outside("adapter", out, base_folder) == engine_answers
    modelfile = (out / "Modelfile").read_text()
    assert f"FROM {base_folder}\nADAPTER .\n" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    card = (out / "README.md").read_text()
    data = client.files.content(job.training_file).content
    assert hashlib.sha256(data).hexdigest() in card and f"{len(TRAIN)} examples" in card
    assert "2 epochs, batch size 8" in card and job.id in card and "Not evaluated" in card


def test_the_merged_folder_loads_offline_by_itself_and_answers_as_the_engine(trained, tmp_path):
    handle, _, job, engine_answers = trained
    out = export(job.fine_tuned_model, "merged", tmp_path / "merged", data_dir=handle.data_dir)
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert "<|im_start|>" in (out / "chat_template.jinja").read_text()
    assert answers_outside("merged", out) == engine_answers


def test_the_gguf_reads_back_through_transformers_to_the_engines_answers(trained, tmp_path):
    from gguf import GGUFReader

    handle, _, job, engine_answers = trained
    out = export(job.fine_tuned_model, "gguf", tmp_path / "gguf32", data_dir=handle.data_dir, quantize="f32")
    file = next(out.glob("*.gguf"))
    reader = GGUFReader(file)
    assert reader.fields["general.architecture"].contents() == "llama"
    assert "<|im_start|>" in reader.fields["tokenizer.chat_template"].contents()
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert answers_outside("gguf", out, file.name) == engine_answers
    modelfile = (out / "Modelfile").read_text()
    assert f"FROM ./{file.name}\n" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile


def test_f16_by_default_and_q8_0_on_request(trained, tmp_path):
    from gguf import GGMLQuantizationType, GGUFReader

    handle, _, job, _ = trained
    sizes = {}
    for quantize, matrices in (("f16", GGMLQuantizationType.F16), ("q8_0", GGMLQuantizationType.Q8_0)):
        out = export(
            job.fine_tuned_model,
            "gguf",
            tmp_path / quantize,
            data_dir=handle.data_dir,
            **({} if quantize == "f16" else {"quantize": quantize}),
        )
        file = next(out.glob("*.gguf"))
        assert file.name.endswith(f".{quantize}.gguf")
        kinds = {t.name: t.tensor_type for t in GGUFReader(file).tensors}
        assert kinds["blk.0.attn_q.weight"] == matrices and kinds["blk.0.attn_norm.weight"] == GGMLQuantizationType.F32
        assert "output.weight" not in kinds  # tied to token_embd, as llama.cpp lays it out
        sizes[quantize] = file.stat().st_size
        answers = answers_outside("gguf", out, file.name)
        assert len(answers) == len(PROMPTS)
    assert sizes["q8_0"] < 0.65 * sizes["f16"]


def test_a_checkpoint_and_a_job_id_export_too(trained, tmp_path):
    handle, client, job, _ = trained
    checkpoint = client.fine_tuning.jobs.checkpoints.list(job.id).data[-1]
    out = export(checkpoint.fine_tuned_model_checkpoint, "adapter", tmp_path / "ckpt", data_dir=handle.data_dir)
    assert f"checkpoint at step {checkpoint.step_number}" in (out / "README.md").read_text()
    by_job = export(job.id, "adapter", tmp_path / "by-job", data_dir=handle.data_dir)
    assert (by_job / "adapter_model.safetensors").read_bytes() == (
        handle.data_dir / "jobs" / job.id / "model" / "adapter_model.safetensors"
    ).read_bytes()


def ftw_export(*args):
    p = subprocess.run(
        [sys.executable, "-m", "ftwidgets.cli", "export", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    return p


def test_refusals_are_one_line_with_exit_1(trained, tmp_path, base_folder):
    handle, client, job, _ = trained
    data = ["--data-dir", handle.data_dir]
    cases = {
        "ft:nope:x::y": "no fine-tuned model or checkpoint named 'ft:nope:x::y'",
        str(base_folder): "is a base model: there is nothing of yours in it to export",
        "ftjob-doesnotexist1234": "no job ftjob-doesnotexist1234",
    }
    for model, said in cases.items():
        p = ftw_export(model, "--out", tmp_path / "never", *data)
        assert p.returncode == 1 and said in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "never").exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep me")
    p = ftw_export(job.fine_tuned_model, "--out", full, *data)
    assert p.returncode == 1 and "exists and is not empty" in p.stderr and "--force" in p.stderr
    assert [x.name for x in full.iterdir()] == ["mine.txt"]
    p = ftw_export(job.fine_tuned_model, "--out", full, "--force", *data)
    assert p.returncode == 0 and (full / "adapter_model.safetensors").exists() and not (full / "mine.txt").exists()
    assert "Exported" in p.stdout


def test_a_running_job_is_refused(trained, tmp_path, base_folder):
    handle, client, _, _ = trained
    f = upload(client, TRAIN)
    running = client.fine_tuning.jobs.create(
        model=str(base_folder),
        training_file=f.id,
        hyperparameters={"n_epochs": 3},
        metadata={"allow_small_dataset": "true"},
    )
    try:
        with pytest.raises(ExportError, match=f"job {running.id} is still"):
            export(running.id, "adapter", tmp_path / "x", data_dir=handle.data_dir)
    finally:
        client.fine_tuning.jobs.cancel(running.id)
    assert not (tmp_path / "x").exists()


def test_a_full_disk_is_said_and_leaves_nothing(trained, tmp_path, monkeypatch):
    handle, _, job, _ = trained

    def no_room(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module.shutil, "copyfile", no_room)
    with pytest.raises(ExportError) as e:
        export(job.fine_tuned_model, "adapter", tmp_path / "out", data_dir=handle.data_dir)
    assert f"The disk holding {tmp_path} is full" in str(e.value) and "MB free" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no half-written export, not even a hidden one


def test_the_tokenizer_written_is_the_one_llama_cpp_made_for_smollm2(tmp_path):
    """Built from the Hugging Face tokenizer, the GGUF's tokens, types, merges and special ids are exactly those of
    the GGUF file that SmolLM2 ships in (made by llama.cpp's converter)."""
    import gguf
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(models.ensure_converted())
    writer = gguf.GGUFWriter(str(tmp_path / "t.gguf"), "llama")
    gguf_file.add_tokenizer(writer, tok, 49152, "smollm")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    mine, theirs = gguf.GGUFReader(tmp_path / "t.gguf"), gguf.GGUFReader(models.gguf_path())
    for key in [k for k in theirs.fields if k.startswith("tokenizer.")]:
        assert mine.fields[key].contents() == theirs.fields[key].contents(), key


def test_the_card_carries_step_5s_verdict_when_the_workbook_evaluated_this_model(trained, tmp_path, monkeypatch):
    handle, _, job, _ = trained
    monkeypatch.setenv("FTW_WORK_DIR", str(tmp_path / "work"))
    folder = tmp_path / "work" / "05_evaluate"
    folder.mkdir(parents=True)
    verdict = "On 12 held-out test items:\n- fine-tuned is better on format compliance: +50 points"
    (folder / "comparison.json").write_text(
        json.dumps({"models": {"base": "b", "fine_tuned": job.fine_tuned_model}, "verdict": verdict})
    )
    card = (export(job.fine_tuned_model, "adapter", tmp_path / "a", data_dir=handle.data_dir) / "README.md").read_text()
    assert verdict in card and "Not evaluated" not in card
    (folder / "comparison.json").write_text(json.dumps({"models": {"fine_tuned": "ft:another"}, "verdict": verdict}))
    card = (export(job.fine_tuned_model, "adapter", tmp_path / "b", data_dir=handle.data_dir) / "README.md").read_text()
    assert verdict not in card  # another model's verdict is never put on this one
