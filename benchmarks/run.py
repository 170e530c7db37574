"""Run every benchmark, each in a process of its own, and print one table of figures.

Each figure is shown with its baseline (measured side by side in the same run) and the
ratio; the exit status is 1 when any target is missed or a benchmark fails.
`python benchmarks/run.py [--only detection playback ...]` (about 8 minutes in all)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Figure

HERE = Path(__file__).resolve().parent
#: In order: quick ones first. The detection benchmark runs at the realistic time scale.
BENCHMARKS = (
    "upload",
    "render",
    "memory",
    "media",
    "startup",
    "overhead",
    "concurrency",
    "batch",
    "playback",
    "detection",
)
RENDER_TARGET_S = 2.0


def run_one(name: str, folder: Path) -> tuple[list[Figure], str | None]:
    """The figures of one benchmark, and what went wrong if it did not finish."""
    output = folder / f"{name}.json"
    command = [sys.executable, str(HERE / f"{name}.py")]
    if name != "render":
        command += ["--json", str(output)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    print(f"\n=== {name} ({time.monotonic() - started:.0f} s)")
    print(result.stdout.rstrip())
    if name == "render":
        return render_figures(result.stdout), None if result.stdout else result.stderr[-2000:]
    if not output.exists():
        return [], f"exit {result.returncode}: {result.stderr[-2000:]}"
    figures = [
        Figure(**{k: v for k, v in item.items() if k != "met"}) for item in json.loads(output.read_text())
    ]
    return figures, None


def render_figures(stdout: str) -> list[Figure]:
    """`render.py` prints its medians; the 5 s 1280x720 one is held to the 2 s budget."""
    match = re.search(r"5 s 1280x720: median\s+([\d.]+) s", stdout)
    if match is None:
        return []
    return [
        Figure(
            "8",
            "simulator render, 5 s 1280x720: median",
            float(match.group(1)),
            "s",
            RENDER_TARGET_S,
            "value < 2.0",
            "baseline: the 2 s budget",
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="luma-benchmarks-") as folder:
        for name in args.only or BENCHMARKS:
            found, failure = run_one(name, Path(folder))
            figures += found
            if failure or not found:
                failures[name] = failure or "no figures"
    print("\nAll figures (value, baseline measured in the same run, ratio, verdict [target])")
    for figure in sorted(figures, key=lambda f: int(f.target)):
        print(figure.line())
    for name, failure in failures.items():
        print(f"  FAILED to run: {name}: {failure}")
    missed = [f for f in figures if f.met is False]
    print(
        f"\n{len(figures) - len(missed)} of {len(figures)} figures within target"
        + (f"; missed: {', '.join(f.name for f in missed)}" if missed else "")
    )
    return 1 if missed or failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
