"""What watching a job costs: the CPU seconds of the watcher (a notebook kernel's JobMonitor) and of the engine's
server process (not its trainer) while one fine-tuning job runs, with one version of the code or another.

The job monitor refreshes every 2 s as notebook 04's does. Run each version alone, on a quiet machine, with the same
job; the engine's trainer competes with the watcher for the same two cores, so the job's own time is printed too.

    python benchmarks/monitor_cost.py                        # this tree's code
    python benchmarks/monitor_cost.py --code /tmp/old-tree   # another checkout's ftwidgets (e.g. a git worktree)
    python benchmarks/monitor_cost.py --examples 960 --epochs 3   # notebook 04's full-size main job
"""

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", default=str(HERE), help="the checkout whose ftwidgets to measure (default: this one)")
    ap.add_argument("--examples", type=int, default=480)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--every", type=float, default=2.0, help="the monitor's refresh interval (notebook 04: 2 s)")
    args = ap.parse_args()
    code = Path(args.code).resolve()
    sys.path.insert(0, str(code))
    import plotly.io
    import psutil

    plotly.io.renderers.default = "json"  # an old monitor's fig.show() outside a notebook: no browser, no HTML file

    from ftwidgets.data.dataset import load_jsonl, write_jsonl
    from ftwidgets.widgets import JobMonitor

    samples = HERE / "data" / "samples" / "math_tutor.jsonl"
    data = load_jsonl(samples)
    folder = Path(tempfile.mkdtemp(prefix="ftw-monitor-"))
    write_jsonl(folder / "train.jsonl", data[: args.examples])
    write_jsonl(folder / "valid.jsonl", data[1000:1120])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = secrets.token_hex(8)
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftwidgets.cli",
            "engine",
            "serve",
            "--data-dir",
            str(folder / "engine"),
            "--port",
            str(port),
            "--api-key",
            key,
        ],
        env=env,
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # cwd: `python -m` looks there first, so the engine and its
    # trainer run `code`'s ftwidgets, not the installed one
    try:
        import openai

        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        files = [
            client.files.create(file=open(folder / n, "rb"), purpose="fine-tune").id
            for n in ("train.jsonl", "valid.jsonl")
        ]
        engine = psutil.Process(server.pid)
        engine_before, me_before, t0 = engine.cpu_times(), time.process_time(), time.monotonic()
        job = client.fine_tuning.jobs.create(
            model="smollm2-135m-instruct",
            training_file=files[0],
            validation_file=files[1],
            seed=42,
            hyperparameters={"n_epochs": args.epochs},
            metadata={"early_stopping": "true"},
        )
        monitor = JobMonitor(client, job.id)
        status = monitor.wait(every=args.every, timeout=7200)
        wall, me = time.monotonic() - t0, time.process_time() - me_before
        after = engine.cpu_times()
        server_cpu = (after.user - engine_before.user) + (after.system - engine_before.system)
        events = len(list(client.fine_tuning.jobs.list_events(job.id, limit=100)))
        ran = (folder / "engine" / "jobs" / job.id / "progress.json").exists()  # only the new trainer writes it
        print(
            json.dumps(
                {
                    "code": str(code),
                    "trainer_writes_progress": ran,
                    "status": status,
                    "job_wall_s": round(wall, 1),
                    "events": events,
                    "watcher_cpu_s": round(me, 2),
                    "engine_server_cpu_s": round(server_cpu, 2),
                    "examples": args.examples,
                    "epochs": args.epochs,
                    "refresh_s": args.every,
                }
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
