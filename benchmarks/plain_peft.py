"""The baseline for the engine's training benchmark: a plain PEFT script, as a user would write it.

Same model, LoRA config, data, batch size, learning rate and steps as an engine job;
no job layer, no metrics, no validation. Prints one JSON line with its tokens/s.

    python benchmarks/plain_peft.py TRAIN.jsonl --epochs 1 --batch-size 4 --threads 2
"""

import argparse
import json
import random
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from ftwidgets.engine import models
from ftwidgets.engine.chat import encode_example
from ftwidgets.engine.lora import LORA
from ftwidgets.engine.recipe import BASE_LEARNING_RATE

t_start = time.perf_counter()
ap = argparse.ArgumentParser()
ap.add_argument("train")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--batch-size", type=int, default=4)
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--seed", type=int, default=7)
ap.add_argument("--adapter", default="/tmp/plain-peft-adapter", help="where the trained adapter is saved")
a = ap.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
path = models.ensure_converted()
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
model = get_peft_model(
    model,
    LoraConfig(
        r=LORA.r,
        lora_alpha=LORA.alpha,
        lora_dropout=LORA.dropout,
        target_modules=LORA.target_modules,
        task_type="CAUSAL_LM",
    ),
)
data = [encode_example(tok, json.loads(line)["messages"], 1024) for line in open(a.train) if line.strip()]
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=BASE_LEARNING_RATE)
rng = random.Random(a.seed)
tokens = 0
t0 = time.perf_counter()
model.train()
for _ in range(a.epochs):
    order = list(range(len(data)))
    rng.shuffle(order)
    for s in range(0, len(order), a.batch_size):
        batch = [data[i] for i in order[s : s + a.batch_size]]
        width = max(len(i) for i, _ in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id or 0)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for k, (i, lab) in enumerate(batch):
            ids[k, : len(i)], labels[k, : len(lab)], mask[k, : len(i)] = torch.tensor(i), torch.tensor(lab), 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        tokens += int(mask.sum())
train_s = time.perf_counter() - t0
model.save_pretrained(a.adapter)
print(
    json.dumps(
        {
            "tokens": tokens,
            "train_s": round(train_s, 2),
            "wall_s": round(time.perf_counter() - t_start, 2),
            "tokens_per_s": round(tokens / train_s, 1),
        }
    )
)
sys.stdout.flush()
