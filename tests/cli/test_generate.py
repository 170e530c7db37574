"""`generate` as a subprocess: the saved MP4 on stdout, the journal row, and every exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import one_error


def test_generate_prints_the_saved_video_and_journals_it(cli, server, landscape_image) -> None:
    """generate exits 0, prints only the MP4's path on stdout, and journals a completed row."""
    result = cli.run("generate", landscape_image, "-p", "slow zoom in", "--size", "1280x720")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert result.stdout == f"{path}\n" and path.is_file() and path.parent == cli.home / "outputs"
    row = cli.row()
    assert row["state"] == "completed" and row["video_path"] == str(path)
    assert (row["prompt"], row["size"], row["duration"]) == ("slow zoom in", "1280*720", 5)
    assert row["task_id"] in result.stderr and "submitted" in result.stderr
    assert server.control.task(row["task_id"])["submits"] == 1
    cli.assert_key_nowhere()


def test_lost_submit_answer_is_found_without_resending(cli, server, landscape_image) -> None:
    """When the submit's answer is lost, generate finds the task by its input and finishes it."""
    server.control.add_fault("submit", "drop", after_processing=True, key=cli.key)
    result = cli.run("generate", landscape_image, "-p", "answer dropped")
    assert result.returncode == 0, result.stderr
    assert "found again after a lost answer" in result.stderr
    row = cli.row()
    assert row["state"] == "completed" and server.control.task(row["task_id"])["submits"] == 1


def test_generate_json_and_output_copy(cli, landscape_image, tmp_path) -> None:
    """--json prints the task's record; -o into a folder copies the MP4 there."""
    result = cli.run("generate", landscape_image, "-p", "pan left", "--json", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["state"] == "completed" and record["task_id"] == cli.row()["task_id"]
    assert record["parameters"] == {"prompt": "pan left", "size": "1280*720", "duration": 5}
    copy = Path(record["output"])
    assert copy == tmp_path / f"{record['task_id']}.mp4"
    assert copy.read_bytes() == Path(record["video_path"]).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "   "], "Write a prompt"),
        (["-p", "zoom", "--size", "640*480"], "Size must be one of"),
        (["-p", "zoom", "--duration", "7"], "Duration must be 5 or 10"),
    ],
)
def test_bad_input_exits_2_before_anything_is_spent(cli, server, landscape_image, args, message) -> None:
    """Bad input is one error line and exit 2; nothing reaches the API or the journal."""
    before = server.control.stats()["routes"].get("upload", 0)
    result = cli.run("generate", landscape_image, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error:") and message in one_error(result.stderr)
    assert server.control.stats()["routes"].get("upload", 0) == before
    assert cli.rows() == []


def test_a_file_that_is_not_an_image_exits_2(cli, tmp_path) -> None:
    """A file that is not a picture, or no file at all, is refused with exit 2."""
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    result = cli.run("generate", text, "-p", "zoom")
    assert result.returncode == 2 and "not an image" in one_error(result.stderr)
    missing = cli.run("generate", tmp_path / "missing.jpg", "-p", "zoom")
    assert missing.returncode == 2 and "No image file at" in one_error(missing.stderr)


def test_no_key_exits_2_and_names_the_fix(cli, landscape_image) -> None:
    """Without a key (and without --simulate) the error says how to provide one."""
    result = cli.run("generate", landscape_image, "-p", "zoom", env={"WAVESPEED_API_KEY": ""})
    assert result.returncode == 2 and "WAVESPEED_API_KEY" in one_error(result.stderr)


def test_rejected_key_exits_3_with_one_line(cli, server, landscape_image) -> None:
    """A key the API rejects is exit 3 and one line, never the key itself."""
    server.control.set_account(cli.key, valid=False)
    result = cli.run("generate", landscape_image, "-p", "zoom")
    assert result.returncode == 3 and result.stdout == ""
    assert "key" in one_error(result.stderr).lower()


def test_rejected_key_with_verbose_shows_the_traceback(cli, server, landscape_image) -> None:
    """--verbose adds the traceback and the request log, still without the key."""
    server.control.set_account(cli.key, valid=False)
    result = cli.run("generate", landscape_image, "-p", "zoom", "--verbose")
    assert result.returncode == 3
    assert "Traceback" in result.stderr and "HTTP Request" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error:")


def test_insufficient_balance_exits_3_and_the_row_says_rejected(cli, server, landscape_image) -> None:
    """An account that cannot pay is exit 3; the row is rejected with the reason."""
    server.control.set_account(cli.key, balance=0)
    result = cli.run("generate", landscape_image, "-p", "zoom")
    assert result.returncode == 3 and "balance" in one_error(result.stderr).lower()
    row = cli.row()
    assert row["state"] == "rejected" and row["task_id"] is None and row["error"]
    cli.assert_key_nowhere()


def test_failed_task_exits_4_with_the_api_reason(cli, server, landscape_image) -> None:
    """A task that fails on the API's side is exit 4; the line and the row carry its reason."""
    server.control.add_fault("submit", "task_failed", key=cli.key)
    result = cli.run("generate", landscape_image, "-p", "zoom")
    assert result.returncode == 4 and result.stdout == ""
    row = cli.row()
    line = one_error(result.stderr)
    assert row["state"] == "failed" and row["task_id"] in line and "failed" in line
    assert row["error_code"] and row["error"]


def test_deadline_exits_5_and_resume_finishes_the_task(cli, server, landscape_image) -> None:
    """A deadline that runs out is exit 5 with the task id; `resume` later saves the video."""
    result = cli.run(
        "generate", landscape_image, "-p", "zoom", "--duration", "10", env={"LUMA_PLAYGROUND_DEADLINE": "1"}
    )
    assert result.returncode == 5 and result.stdout == ""
    row = cli.row()
    line = one_error(result.stderr)
    assert row["task_id"] in line and "resume" in line
    assert row["state"] in ("created", "processing")
    resumed = cli.run("resume")
    assert resumed.returncode == 0, resumed.stderr
    task_id, state, path = resumed.stdout.strip().split("\t")
    assert (task_id, state) == (row["task_id"], "completed") and Path(path).is_file()
    assert server.control.task(task_id)["submits"] == 1
