"""Nothing paid for is lost: killed, interrupted or half-downloaded tasks are finished by `resume`."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from luma_playground import Journal

from .conftest import STALL_SECONDS, submit_elsewhere, wait_for


def _pending_row(cli, state: str) -> dict | None:
    rows = cli.rows()
    return rows[0] if rows and rows[0]["state"] == state else None


def _resumed(cli, result) -> tuple[str, Path]:
    """The task id and video of the one line `resume` printed, checked against the journal."""
    assert result.returncode == 0, result.stderr
    task_id, state, path = result.stdout.strip().split("\t")
    row = cli.row()
    assert state == "completed" == row["state"] and row["video_path"] == path
    assert Path(path).is_file() and Path(path).stat().st_size > 1000
    cli.assert_key_nowhere()
    return task_id, Path(path)


def test_generates_killed_while_polling_are_finished_by_resume(cli, server, landscape_image) -> None:
    """Rows left pending by SIGKILL while polling are finished by one `resume`, with no new submit."""
    running = [
        cli.start("generate", landscape_image, "-p", f"kill me {n}", "--duration", "10") for n in (1, 2)
    ]
    rows = wait_for(
        lambda: [row for row in cli.rows() if row["state"] == "processing"][1:] and cli.rows(),
        what="two processing rows",
    )
    for process in running:
        assert process.stop(signal.SIGKILL) == -signal.SIGKILL and process.stdout == ""
    assert all(server.control.task(row["task_id"])["status"] != "completed" for row in rows)
    assert [row["state"] for row in cli.rows()] == ["processing", "processing"]
    result = cli.run("resume")
    assert result.returncode == 0 and "resuming 2 task(s)" in result.stderr
    lines = sorted(line.split("\t") for line in result.stdout.splitlines())
    assert [line[:2] for line in lines] == sorted([row["task_id"], "completed"] for row in rows)
    for row in cli.rows():
        assert row["state"] == "completed" and Path(row["video_path"]).is_file()
        assert server.control.task(row["task_id"])["submits"] == 1
    assert cli.run("resume").stderr.strip() == "nothing to resume"


def test_submit_killed_before_its_answer_is_found_and_finished(cli, server, landscape_image) -> None:
    """`resume` finds a killed submit's task by its input and finishes it, sending nothing again."""
    server.control.add_fault("submit", "stall", seconds=STALL_SECONDS, key=cli.key)
    before = {task["id"] for task in server.control.tasks()}
    running = cli.start("generate", landscape_image, "-p", "answer lost")
    created = wait_for(
        lambda: [t for t in server.control.tasks() if t["id"] not in before], what="the task on the server"
    )
    assert cli.row()["state"] == "submitting"
    running.stop(signal.SIGKILL)
    row = cli.row()
    assert row["state"] == "submitting" and row["task_id"] is None
    server.control.clear_faults()
    task_id, _ = _resumed(cli, cli.run("resume"))
    assert task_id == created[0]["id"]
    assert server.control.task(task_id)["submits"] == 1


def test_ctrl_c_during_an_unanswered_submit_is_recorded_unknown(cli, server, landscape_image) -> None:
    """Ctrl-C during an unanswered submit leaves an `unknown` row, which `resume` finds and saves."""
    server.control.add_fault("submit", "stall", seconds=STALL_SECONDS, key=cli.key)
    before = len(server.control.tasks())
    running = cli.start("generate", landscape_image, "-p", "interrupted submit")
    wait_for(lambda: len(server.control.tasks()) > before, what="the task on the server")
    assert running.stop(signal.SIGINT) == 130
    assert cli.row()["state"] == "unknown" and cli.row()["task_id"] is None
    server.control.clear_faults()
    _resumed(cli, cli.run("resume"))


def test_ctrl_c_keeps_the_task_for_resume(cli, server, landscape_image) -> None:
    """Ctrl-C during polling is exit 130 with one line, leaves the row pending; resume finishes it."""
    running = cli.start("generate", landscape_image, "-p", "interrupted", "--duration", "10")
    wait_for(lambda: _pending_row(cli, "processing"), what="a processing row")
    assert running.stop(signal.SIGINT) == 130
    assert "interrupted" in running.stderr.splitlines()[-1]
    cli.check_output(running.stderr)
    assert cli.row()["state"] == "processing"
    _resumed(cli, cli.run("resume"))


def test_completed_task_without_its_file_is_downloaded_again(cli, landscape_image) -> None:
    """A completed row whose download never finished is downloaded by `resume`."""
    path = Path(cli.run("generate", landscape_image, "-p", "twice").stdout.strip())
    row = cli.row()
    journal = Journal(cli.home / "journal.sqlite3")
    journal.update(row["row_id"], video_path=None)  # as if killed mid-download
    journal.close()
    path.unlink()
    task_id, again = _resumed(cli, cli.run("resume"))
    assert (task_id, again) == (row["task_id"], path)


def test_resume_leaves_other_keys_tasks_alone(cli, server, landscape_image) -> None:
    """Pending tasks of another key are not touched, and the user is told they exist."""
    running = cli.start("generate", landscape_image, "-p", "mine", "--duration", "10")
    wait_for(lambda: _pending_row(cli, "processing"), what="a processing row")
    running.stop(signal.SIGKILL)
    other = cli.run("resume", env={"WAVESPEED_API_KEY": "sk-someone-else"})
    assert other.returncode == 0 and other.stdout == ""
    assert "1 pending task(s) belong to another key" in other.stderr
    assert cli.row()["state"] == "processing"
    result = cli.run("resume", "--json")
    assert result.returncode == 0
    [record] = json.loads(result.stdout)
    assert record["state"] == "completed" and Path(record["video_path"]).is_file()


def test_resume_records_failures_and_expiry_with_the_api_reason(cli, server, landscape_image) -> None:
    """Tasks that cannot end with a video (failed, unknown, expired) get the API's reason; exit 4."""
    server.control.add_fault("submit", "task_failed", key=cli.key)
    failed = asyncio.run(submit_elsewhere(server.base_url, cli.key, landscape_image, 5))
    deleted = asyncio.run(submit_elsewhere(server.base_url, cli.key, landscape_image, 5))
    server.control.add_fault("output", "expired")
    for task_id in (failed, "0000000000000000", deleted):
        cli.add_row(task_id)
    result = cli.run("resume")
    assert result.returncode == 4
    outcome = {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}
    assert outcome[failed][0] == "failed" and "Task execution failed" in outcome[failed][1]
    assert outcome["0000000000000000"][0] == "expired"
    assert "does not know this task" in outcome["0000000000000000"][1]
    assert outcome[deleted] == [
        "expired",
        "The video is no longer available on WaveSpeed (outputs are kept for 7 days). (task " + deleted + ")",
    ]
    assert {row["state"] for row in cli.rows()} == {"failed", "expired"}
