"""Journal contention benchmark: event-loop lag while another process writes the same journal.

The app writes its SQLite journal from a writer thread of its own (reads stay on the loop).
The CLI (`generate`, `resume`) may write the same file at the same time, and a write waits
for the other process's write lock. This measures whether that wait shows on the loop:

- baseline: 200 `Pipeline.generate` at once on one loop, the journal file its own;
- contended: the same, while another process writes that journal file in a loop (a row
  begun, then created, processing, completed: the CLI's writes), `--pause` s between rows
  (0: back to back, the worst case).

Each arm runs in a fresh process against a simulator in another process.
`python benchmarks/journal_contention.py [--generations 200]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import KEY, Figure, SimulatorProcess, arguments, report
from concurrency import TIME_SCALE, pipeline_arm

from luma_playground import Journal

ROW = {
    "model": "luma/ray-2-i2v",
    "backend": "simulator",
    "base_url": "http://127.0.0.1:1",
    "owner": "cli",
    "key_fingerprint": "cli",
    "prompt": "a write from another process",
    "size": "1280*720",
    "duration": 5,
    "image": "x.png",
    "image_url": None,
}


def write_forever(path: Path, pause: float) -> None:
    """Write journal rows (`pause` s apart) until SIGTERM; print how many transactions ran."""
    journal = Journal(path)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    transactions = 0
    started = time.monotonic()
    while not stopping:
        row = journal.begin(**ROW)
        journal.update(row, "created", task_id=f"cli-{row}")
        journal.update(row, "processing")
        journal.update(row, "completed", output_url="http://127.0.0.1:1/o.mp4", inference_ms=1000)
        transactions += 4
        time.sleep(pause)
    print(json.dumps({"transactions": transactions, "seconds": time.monotonic() - started}))


def run_arm(base_url: str, count: int, journal_path: Path) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--arm",
            "--base-url",
            base_url,
            "--generations",
            str(count),
            "--journal",
            str(journal_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"the arm failed:\n{output.stderr[-3000:]}")
    result: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def contended_arm(
    base_url: str, count: int, journal_path: Path, pause: float
) -> tuple[dict[str, float], float]:
    """The arm while a writer process hammers its journal; also the writer's transactions/s."""
    Journal(journal_path).close()  # created (and in WAL mode) before either opens it
    writer = subprocess.Popen(
        [sys.executable, __file__, "--writer", str(journal_path), "--pause", str(pause)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    if writer.stdout.readline().strip() != "ready":
        raise RuntimeError("the writer did not start")
    try:
        result = run_arm(base_url, count, journal_path)
    finally:
        writer.send_signal(signal.SIGTERM)
        out, _ = writer.communicate(timeout=30)
    written = json.loads(out.strip().splitlines()[-1])
    return result, written["transactions"] / written["seconds"]


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--generations", type=int, default=200)
        parser.add_argument("--arm", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--pause", type=float, default=0.0, help="seconds between the writer's rows")
        parser.add_argument("--writer", help=argparse.SUPPRESS)
        parser.add_argument("--journal", help=argparse.SUPPRESS)
        parser.add_argument("--base-url", help=argparse.SUPPRESS)

    args = arguments(__doc__.splitlines()[0], options)
    if args.writer:
        write_forever(Path(args.writer), args.pause)
        return 0
    if args.arm:
        with tempfile.TemporaryDirectory(prefix="luma-contention-") as folder:
            result = asyncio.run(
                pipeline_arm(args.base_url, args.generations, Path(folder), Path(args.journal))
            )
        print(json.dumps(result))
        return 0
    count = args.generations
    with SimulatorProcess(TIME_SCALE, seed=5) as simulator, tempfile.TemporaryDirectory() as folder:
        simulator.control.set_account(KEY, balance=10_000)
        alone = run_arm(simulator.base_url, count, Path(folder) / "alone.sqlite3")
        simulator.control.reset()
        simulator.control.set_account(KEY, balance=10_000)
        shared, rate = contended_arm(simulator.base_url, count, Path(folder) / "shared.sqlite3", args.pause)
    detail = f"{count} at once; the other process wrote {rate:.0f} transactions/s throughout"
    figures = [
        Figure(
            "5",
            "generations completed (journal shared)",
            shared["completed"],
            "",
            alone["completed"],
            f"value >= {count}",
            detail,
        ),
        Figure(
            "5",
            "event loop lag p99 (journal shared)",
            shared["lag_p99"],
            "s",
            alone["lag_p99"],
            "value < 0.05",
        ),
    ]
    return report("Journal contention (target 5)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
