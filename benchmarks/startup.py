"""Start-up benchmark (target 6): `python app.py` until its first page, against a Gradio hello world.

Both are started the same way (`python <file>`, same environment, GRADIO_SERVER_PORT set),
alternately; the time is from the process start to the first 200 answer for `/`.
The playground starts without a key, so it also starts its offline simulator.
Then each is left idle once, and the CPU it uses meanwhile is read from `/proc` (Linux).
`python benchmarks/startup.py [--runs 5] [--idle 10]`
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, Figure, arguments, free_port, median, report

HELLO = """import gradio as gr


def greet(name):
    return f"Hello {name}!"


demo = gr.Interface(fn=greet, inputs="text", outputs="text")

if __name__ == "__main__":
    demo.launch()
"""

TIMEOUT_S = 120.0
#: Left alone this long after the first page before the idle CPU is read.
SETTLE_S = 3.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_page(script: Path, home: Path, idle_s: float = 0.0) -> tuple[float, float]:
    """Seconds from starting `python script` to its first page, and the share of one core it then
    uses while idle for `idle_s` (after a few seconds to settle); the process is stopped after.
    """
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "LUMA_PLAYGROUND_HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WAVESPEED_API_KEY", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=script.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"http://127.0.0.1:{port}/").status_code == 200:
                        break
                if process.poll() is not None:
                    raise RuntimeError(f"{script.name} exited: {process.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"{script.name} served nothing in {TIMEOUT_S:.0f} s")
                time.sleep(0.02)
        seconds = time.perf_counter() - started
        if not idle_s:
            return seconds, 0.0
        time.sleep(SETTLE_S)
        before = cpu_seconds(process.pid)
        time.sleep(idle_s)
        return seconds, (cpu_seconds(process.pid) - before) / idle_s
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def main() -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--runs", type=int, default=5, help="starts of each (default 5)")
        parser.add_argument("--idle", type=float, default=10.0, help="seconds left idle (default 10)")

    args = arguments(__doc__.splitlines()[0], options)
    app = ROOT / "app.py"
    if not app.exists():
        print("app.py does not exist yet: nothing to measure")
        return 1
    with tempfile.TemporaryDirectory(prefix="luma-startup-") as folder:
        work = Path(folder)
        hello = work / "hello.py"
        hello.write_text(HELLO)
        first_page(hello, work / "home")  # warm the disk cache for both
        first_page(app, work / "home")
        ours, bare = [], []
        for run in range(args.runs):
            ours.append(first_page(app, work / f"home-{run}")[0])
            bare.append(first_page(hello, work / f"home-{run}")[0])
        idle = first_page(app, work / "home-idle", args.idle)[1]
        idle_bare = first_page(hello, work / "home-idle", args.idle)[1]
    figures = [
        Figure(
            "6",
            "python app.py to first page: median",
            median(ours),
            "s",
            median(bare),
            "ratio <= 1.3",
            f"{args.runs} starts each; app {min(ours):.2f}-{max(ours):.2f} s, "
            f"hello world {min(bare):.2f}-{max(bare):.2f} s",
        ),
        Figure(
            "6",
            "idle app: CPU, share of one core",
            idle * 100,
            "%",
            idle_bare * 100,
            "ratio <= 0.5",
            f"{args.idle:.0f} s idle after the first page, against the hello world's stock queue",
        ),
    ]
    return report("Start-up (target 6)", figures, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
