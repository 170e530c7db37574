"""`batch` as a subprocess: every row made and copied, the price confirmed, a killed batch resumed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from luma_playground.simulator import key_fingerprint

from .conftest import Cli, one_error, wait_for

#: The per-minute pace stays out of the way (its window is a real minute); the slots do not.
PACE = {"LUMA_PLAYGROUND_SUBMITS_PER_MINUTE": "100000", "LUMA_PLAYGROUND_TASKS_PER_KEY": "3"}


@pytest.fixture
def limited(server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The simulator runs three tasks of a key at once, like a Bronze account; unlimited after."""
    server.control.set_limits(submits_per_minute=None, concurrent_tasks=3)
    yield
    server.control.set_limits(submits_per_minute=None, concurrent_tasks=None)


def _csv(folder: Path, image: Path, count: int, duration: int = 5) -> Path:
    lines = ["image,prompt,size,duration"] + [f"{image},row {n},,{duration}" for n in range(count)]
    path = folder / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _usage(server, cli: Cli) -> dict:  # type: ignore[no-untyped-def]
    return server.control.limits()["keys"].get(key_fingerprint(cli.key), {})


def _tasks(server, cli: Cli) -> list[dict]:  # type: ignore[no-untyped-def]
    return [t for t in server.control.tasks() if t["key_fingerprint"] == key_fingerprint(cli.key)]


def test_batch_makes_every_row_and_copies_them_out(cli, server, limited, landscape_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Five rows, --yes, --concurrency 2: the price, a line per row, five MP4s in --out, 2 at once."""
    rows = _csv(tmp_path, landscape_image, 5)
    result = cli.run("batch", rows, "--out", tmp_path / "videos", "--yes", "--concurrency", "2", env=PACE)
    assert result.returncode == 0, result.stderr
    assert "5 videos, 5 x 5 s at 0.50 USD = 2.50 USD (simulated)" in result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(line[0], line[2]) for line in lines] == [(str(n), "done") for n in range(1, 6)]
    copies = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [path.name for path in copies] == [f"{n:03d}-{line[1]}.mp4" for n, line in enumerate(lines, 1)]
    assert all(path.stat().st_size > 1000 for path in copies)
    usage = _usage(server, cli)
    assert usage["submits"] == 5 and usage["peak_active"] == 2
    cli.assert_key_nowhere()


def test_without_a_terminal_the_price_needs_yes(cli, server, landscape_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No stdin to confirm on and no --yes: the price is shown, one error line, exit 2, nothing sent."""
    running = cli.start("batch", _csv(tmp_path, landscape_image, 2, duration=10), env=PACE)
    assert running.process.wait(60) == 2
    assert "2 videos, 4 x 5 s at 0.50 USD = 2.00 USD" in running.stderr
    assert "add --yes" in one_error(running.stderr)
    assert _tasks(server, cli) == [] and cli.rows() == []


def test_bad_rows_are_refused_before_anything_is_spent(cli, server, landscape_image, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A row with a bad size refuses the batch with its line number: exit 2, no task."""
    rows = tmp_path / "rows.csv"
    rows.write_text(f"image,prompt,size\n{landscape_image},fine,\n{landscape_image},bad,square\n")
    result = cli.run("batch", rows, "--yes", env=PACE)
    assert result.returncode == 2
    assert one_error(result.stderr).startswith("error: Line 3: Size must be one of")
    assert _tasks(server, cli) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_a_stopped_batch_resumes_when_run_again(cli, server, limited, landscape_image, tmp_path, sig) -> None:  # type: ignore[no-untyped-def]
    """Twelve rows stopped midway: the same command again resumes them; 12 submits in all, 3 at once."""
    rows = _csv(tmp_path, landscape_image, 12, duration=10)
    first = cli.start("batch", rows, "--yes", env=PACE)

    def between_submits() -> bool:
        # Stopped while no submit is on the wire: one cut off mid-flight is, rightly, never sent
        # again (tests/test_pipeline.py), and its row would end as not known, not done.
        states = [r["state"] for r in cli.rows()]
        answered = states.count("created") + states.count("processing")
        return (
            "completed" in states and "processing" in states and answered == 3 and "submitting" not in states
        )

    wait_for(between_submits, timeout=60, what="a row done and three answered submits running")
    code = first.stop(sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    submitted = len(_tasks(server, cli))
    assert 2 <= submitted < 12
    again = cli.run("batch", rows, "--out", tmp_path / "videos", env=PACE, timeout=120)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "resuming batch 1:" in again.stderr and "USD" not in again.stderr
    assert [line.split("\t")[2] for line in again.stdout.splitlines()] == ["done"] * 12
    tasks = _tasks(server, cli)
    assert len(tasks) == 12 and all(task["submits"] == 1 for task in tasks)
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 12
    assert _usage(server, cli)["peak_active"] <= 3
    assert cli.run("batch", rows, env=PACE).returncode == 2  # ended: a new batch would need --yes
