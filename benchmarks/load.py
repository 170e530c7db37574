"""Load: many sessions generating at once through the launched playground, and a soak with faults.

    python benchmarks/load.py --sessions 100                  # 100 sessions, one video each, at once
    python benchmarks/load.py --soak 3 --sessions 20          # 3 minutes of traffic with faults

The simulator (`python -m luma_playground simulator`) and the app (`python app.py`) each run in a
process of their own on 127.0.0.1; every session is a gradio_client with its own key in
`X-WaveSpeed-Key` (or the server's key with `--server-key`). It prints completions, errors and
latency percentiles, then checks with the simulator and the app's journal that every task submitted
ended completed (its video saved) or failed with a reason, and that none was created twice.
Exits 1 when a check fails. Everything stops by itself (`--timeout`).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
# Runnable from a checkout without installing the package.
sys.path.insert(0, str(ROOT))

from luma_playground.simulator import SimulatorControl  # noqa: E402

SERVER_KEY = "sk-load-server-key"
KEY_HEADER = "x-wavespeed-key"
START_TIMEOUT = 90.0
#: The app's read timeout in this run (s); the soak's stalls last longer.
READ_TIMEOUT = 5.0
#: Transient faults the soak injects, for whichever key comes next.
SOAK_FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("result", "status", {"status": 429, "retry_after": 1}),
    ("result", "status", {"status": 429}),
    ("result", "status", {"statuses": [502, 503, 504], "count": 3}),
    ("result", "html", {}),
    ("result", "malformed", {}),
    ("result", "drop", {}),
    ("result", "stall", {"seconds": READ_TIMEOUT + 2}),
    ("submit", "status", {"status": 429, "retry_after": 0.5}),
    ("submit", "status", {"status": 500}),
    ("submit", "drop", {"after_processing": True}),
    ("submit", "task_failed", {"error": "Task execution failed: simulated GPU fault."}),
    ("submit", "moderation", {}),
    ("submit", "nsfw", {}),
    ("upload", "status", {"status": 503}),
    ("output", "truncated", {}),
]
#: The errors those faults may end in: each says what happened and what to do.
EXPECTED_ERRORS = re.compile(
    r"The task failed on WaveSpeed: .*refunded|content moderation refused|"
    r"may or may not exist: it is not sent again"
)


@dataclass(frozen=True, slots=True)
class Result:
    """One generation as its session saw it."""

    session: int
    prompt: str
    seconds: float
    video: str | None = None
    error: str | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    give_up = time.monotonic() + START_TIMEOUT
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited at start-up:\n{log.read_text()[-2000:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not start in {START_TIMEOUT:.0f} s")


def start(
    command: list[str], env: dict[str, str], log: Path, ready_url: str, stack: ExitStack
) -> subprocess.Popen[bytes]:
    """A child process logging to `log`, stopped when `stack` closes."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=log.parent, env=env, stdout=output, stderr=subprocess.STDOUT)
    stack.callback(stop, process)
    wait_until_up(ready_url, process, log)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def picture(path: Path) -> Path:
    image = Image.new("RGB", (960, 540), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, 960, 24):
        draw.rectangle([x, 300, x + 12, 540], fill=(20 + x // 8, 120, 60))
    draw.ellipse([380, 80, 580, 280], fill=(250, 210, 60))
    image.save(path, "JPEG", quality=90)
    return path


class Run:
    """The simulator and the app for one load run, and the sessions that drive the app."""

    def __init__(self, args: argparse.Namespace, folder: Path, stack: ExitStack) -> None:
        self.args = args
        self.folder = folder
        self.image = picture(folder / "input.jpg")
        self.home = folder / "home"
        sim_port, app_port = free_port(), free_port()
        self.sim_url, self.app_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{app_port}/"
        base_env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("WAVESPEED_", "LUMA_PLAYGROUND_", "GRADIO_", "SPACE_"))
        }
        base_env["PYTHONPATH"] = str(ROOT)
        simulator = [
            sys.executable,
            "-m",
            "luma_playground",
            "simulator",
            "--port",
            str(sim_port),
            "--time-scale",
            str(args.time_scale),
        ]
        app_env = base_env | {
            "WAVESPEED_BASE_URL": self.sim_url,
            "WAVESPEED_API_KEY": SERVER_KEY,
            "LUMA_PLAYGROUND_HOME": str(self.home),
            "LUMA_PLAYGROUND_READ_TIMEOUT": str(READ_TIMEOUT),
            "LUMA_PLAYGROUND_TASKS_PER_KEY": str(max(3, args.sessions)),
            "GRADIO_TEMP_DIR": str(folder / "gradio"),
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        self.processes = {
            "simulator": start(
                simulator, base_env, folder / "simulator.log", f"{self.sim_url}/_simulator/stats", stack
            ),
            "app": start(
                [sys.executable, str(ROOT / "app.py"), "--port", str(app_port)],
                app_env,
                folder / "app.log",
                f"{self.app_url}config",
                stack,
            ),
        }
        self.control = SimulatorControl(self.sim_url)
        stack.callback(self.control.close)
        self.server_key = args.server_key
        self.run_id = os.urandom(3).hex()

    def client(self, session: int) -> Client:
        headers = None if self.server_key else {KEY_HEADER: f"sk-load-{self.run_id}-{session:03d}"}
        return Client(
            self.app_url, headers=headers, verbose=False, download_files=str(self.folder / "downloads")
        )

    def generate(self, client: Client, session: int, number: int) -> Result:
        prompt = f"Waves under a slow sky; run {self.run_id}, session {session}, video {number}"
        started = time.monotonic()
        job = client.submit(handle_file(str(self.image)), prompt, "1280*720", 5, api_name="/generate")
        try:
            video = job.result(timeout=self.args.timeout)[0]
        except AppError as error:
            return Result(session, prompt, time.monotonic() - started, error=str(error))
        except Exception as error:  # a timeout or a broken stream: counted, never hidden
            return Result(
                session, prompt, time.monotonic() - started, error=f"{type(error).__name__}: {error}"
            )
        return Result(session, prompt, time.monotonic() - started, video=str(video))

    def session(self, session: int, until: float | None) -> list[Result]:
        """One session: one generation, or back-to-back generations until `until`."""
        client = self.client(session)
        results = []
        try:
            number = 0
            while True:
                results.append(self.generate(client, session, number))
                number += 1
                if until is None or time.monotonic() >= until:
                    return results
        finally:
            client.close()

    def inject_faults(self, until: float, every: float, applied: Counter[str]) -> None:
        """Add a random fault every `every` s until `until`; count those that hit a request."""
        rng = random.Random(7)
        while time.monotonic() < until:
            route, kind, options = rng.choice(SOAK_FAULTS)
            self.control.add_fault(route, kind, **options)
            time.sleep(every)
        for rule in self.control.faults():
            applied[f"{rule['route']} {rule['kind']}"] += rule["applied"]
        self.control.clear_faults()

    def journal(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.home / "journal.sqlite3", timeout=30) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM tasks")]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(results: list[Result], wall: float) -> None:
    done = [r for r in results if r.video]
    errors = Counter(r.error.split(" (task")[0][:110] for r in results if r.error)
    seconds = [r.seconds for r in done] or [0.0]
    print(
        f"generations {len(results)}  completed {len(done)}  errors {sum(errors.values())}  "
        f"wall {wall:.1f} s  throughput {len(done) / wall * 60:.1f} videos/min"
    )
    print(
        "latency (s, completed)  "
        + "  ".join(f"p{int(q * 100)} {percentile(seconds, q):.2f}" for q in (0.5, 0.9, 0.95, 0.99))
        + f"  max {max(seconds):.2f}  mean {sum(seconds) / len(seconds):.2f}"
    )
    for message, count in errors.most_common():
        print(f"  {count:4d} x {message}")


def check(run: Run, results: list[Result], soak: bool) -> list[str]:
    """What went wrong: lost or doubled tasks, rows that do not match, unexplained errors."""
    problems = []
    tasks = run.control.tasks()
    rows = run.journal()
    by_task = {row["task_id"]: row for row in rows if row["task_id"]}
    ours = {r.prompt for r in results}
    per_prompt = Counter(task["input"]["prompt"] for task in tasks)
    ended = Counter(task["status"] for task in tasks)
    print(
        f"simulator: {len(tasks)} tasks submitted, {dict(ended)}; "
        f"journal: {len(rows)} rows, {dict(Counter(row['state'] for row in rows))}"
    )
    inside = [row["updated_at"] - row["created_at"] for row in rows if row["video_path"]]
    if inside:
        print(
            "in the app (journal: row written -> video saved, s)  "
            + "  ".join(f"p{int(q * 100)} {percentile(inside, q):.2f}" for q in (0.5, 0.9, 0.99))
        )
    problems += [f"created {n} times: {p}" for p, n in per_prompt.items() if n > 1]
    problems += [
        f"task {t['id']} still {t['status']}" for t in tasks if t["status"] not in ("completed", "failed")
    ]
    for task in tasks:
        row = by_task.get(task["id"])
        if row is None:
            problems.append(f"task {task['id']} has no journal row (a lost paid task)")
        elif task["status"] == "completed" and not (
            row["state"] == "completed" and row["video_path"] and Path(row["video_path"]).is_file()
        ):
            problems.append(f"task {task['id']} completed but its video was not saved: {row}")
        elif task["status"] == "failed" and not (row["state"] == "failed" and row["error"]):
            problems.append(f"task {task['id']} failed but its row says {row['state']}")
    for row in rows:
        if row["task_id"] is None and not (row["state"] in ("unknown", "rejected") and row["error"]):
            problems.append(f"row {row['row_id']} has no task and no reason: {row['state']}")
    missing = ours - {row["prompt"] for row in rows} - {r.prompt for r in results if r.error}
    problems += [f"no row for a generation that reported a video: {p}" for p in missing]
    for result in results:
        if result.error and not (soak and EXPECTED_ERRORS.search(result.error)):
            problems.append(f"session {result.session}: {result.error}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="sessions at once (default 100)")
    parser.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="generate back to back for this long, with injected faults",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between injected faults in a soak (default 2)",
    )
    parser.add_argument(
        "--time-scale", type=float, default=0.1, help="simulator speed (default 0.1: a 5 s clip in about 5 s)"
    )
    parser.add_argument(
        "--server-key", action="store_true", help="every session on the app's key instead of a key of its own"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds one generation may take before it counts as an error",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, journal)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="luma-load-"))
    try:
        with ExitStack() as stack:
            run = Run(args, folder, stack)
            print(
                f"simulator {run.sim_url} (time scale {args.time_scale}), app {run.app_url}, "
                f"{args.sessions} sessions" + (f", soak {args.soak} min" if args.soak else "")
            )
            results, wall, applied = drive(run, args)
            report(results, wall)
            print(
                "CPU seconds: "
                + ", ".join(
                    f"{name} {cpu_seconds(process.pid):.1f}" for name, process in run.processes.items()
                )
                + f", load driver {cpu_seconds():.1f}"
            )
            if applied:
                print(
                    f"faults that hit a request: {sum(applied.values())}: "
                    + ", ".join(f"{name} {count}" for name, count in sorted(applied.items()))
                )
            problems = check(run, results, soak=bool(args.soak))
    finally:
        if args.keep:
            print(f"run folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    for problem in problems[:30]:
        print(f"PROBLEM {problem}")
    print(
        "OK: no error, no lost task, none created twice"
        if not problems
        else f"FAILED: {len(problems)} problem(s)"
    )
    return 0 if not problems else 1


def drive(run: Run, args: argparse.Namespace) -> tuple[list[Result], float, Counter[str]]:
    """Run the sessions (and, in a soak, the fault injector); every result and the wall time."""
    applied: Counter[str] = Counter()
    started = time.monotonic()
    until = started + args.soak * 60 if args.soak else None
    injector = None
    if until is not None:
        injector = threading.Thread(
            target=run.inject_faults, args=(until, args.fault_every, applied), daemon=True
        )
        injector.start()
    with ThreadPoolExecutor(args.sessions) as pool:
        per_session = list(pool.map(lambda n: run.session(n, until), range(args.sessions)))
    if injector is not None:
        injector.join(timeout=args.fault_every + 30)
    return [r for results in per_session for r in results], time.monotonic() - started, applied


if __name__ == "__main__":
    raise SystemExit(main())
