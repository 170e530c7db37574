"""`history` and `get` as subprocesses: the journal as a table or JSON; any task by its id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .conftest import new_cli, one_error, submit_elsewhere, wait_for


@pytest.fixture(scope="module")
def finished(cli_server, landscape_image, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A home with one completed task and one failed task, made through the command line."""
    cli = new_cli(tmp_path_factory.mktemp("home"), cli_server)
    cli_server.control.clear_faults()
    done = cli.run("generate", landscape_image, "-p", "a | [bold]tricky[/bold] prompt")
    assert done.returncode == 0, done.stderr
    cli_server.control.add_fault("submit", "task_failed", key=cli.key)
    assert cli.run("generate", landscape_image, "-p", "doomed").returncode == 4
    cli_server.control.clear_faults()
    return cli


def test_history_json_has_one_object_per_task(finished) -> None:
    """history --json: newest first, each with its task id, state, parameters and file."""
    result = finished.run("history", "--json")
    assert result.returncode == 0 and result.stderr == ""
    failed, completed = json.loads(result.stdout)
    assert (failed["state"], completed["state"]) == ("failed", "completed")
    assert completed["parameters"] == {
        "prompt": "a | [bold]tricky[/bold] prompt",
        "size": "1280*720",
        "duration": 5,
    }
    assert Path(completed["video_path"]).is_file() and failed["video_path"] is None
    assert failed["error"] and all(record["task_id"] for record in (failed, completed))
    assert "sk-" not in result.stdout


def test_history_table_shows_every_task(finished) -> None:
    """history prints a table with whole task ids, states, prompts (markup kept) and files."""
    result = finished.run("history")
    assert result.returncode == 0
    for row in finished.rows():
        assert row["task_id"] in result.stdout and row["state"] in result.stdout
    assert "[bold]tricky[/bold]" in result.stdout
    assert finished.rows()[0]["video_path"] in result.stdout


def test_history_filters_by_state(finished) -> None:
    """--state keeps one state's tasks; `pending` the unfinished ones; a wrong state is exit 2."""
    [failed] = json.loads(finished.run("history", "--json", "--state", "failed").stdout)
    assert failed["state"] == "failed"
    assert json.loads(finished.run("history", "--json", "--state", "pending").stdout) == []
    none = finished.run("history", "--state", "pending")
    assert none.returncode == 0 and none.stdout == "" and "no tasks" in none.stderr
    wrong = finished.run("history", "--state", "sleeping")
    assert wrong.returncode == 2 and "--state must be one of" in one_error(wrong.stderr)


def test_get_a_known_task_prints_its_video(finished) -> None:
    """get on a completed task of the journal prints its file; a failed one is exit 4."""
    completed, failed = finished.rows()
    result = finished.run("get", completed["task_id"])
    assert result.returncode == 0 and result.stdout.strip() == completed["video_path"]
    lost = finished.run("get", failed["task_id"])
    assert lost.returncode == 4 and lost.stdout == ""
    assert "failed" in one_error(lost.stderr)


def test_get_downloads_a_deleted_video_again(finished) -> None:
    """get on a completed task whose file was deleted saves it again."""
    completed = finished.rows()[0]
    Path(completed["video_path"]).unlink()
    result = finished.run("get", completed["task_id"], "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["video_path"] == completed["video_path"]
    assert Path(completed["video_path"]).is_file()


def test_get_follows_a_task_created_elsewhere(cli, server, landscape_image) -> None:
    """get on another client's task says its status (exit 5), then --wait saves it and journals it."""
    task_id = asyncio.run(submit_elsewhere(server.base_url, cli.key, landscape_image))
    now = cli.run("get", task_id)
    assert now.returncode == 5 and now.stdout == ""
    assert f"task {task_id} is " in now.stderr and "--wait" in now.stderr
    row = cli.row()
    assert row["task_id"] == task_id and row["prompt"] == "made on the website"
    assert row["duration"] == 10 and row["state"] in ("created", "processing")
    waited = cli.run("get", task_id, "--wait")
    assert waited.returncode == 0, waited.stderr
    path = Path(waited.stdout.strip())
    assert path.is_file() and cli.row()["video_path"] == str(path)
    assert cli.row()["state"] == "completed"


def test_get_refuses_unknown_and_malformed_ids(cli, server) -> None:
    """An id the API does not know is exit 3; something that is not an id is exit 2."""
    unknown = cli.run("get", "0123456789abcdef")
    assert unknown.returncode == 3 and "does not know this task" in one_error(unknown.stderr)
    malformed = cli.run("get", "../balance")
    assert malformed.returncode == 2 and "is not a task id" in one_error(malformed.stderr)
    assert cli.rows() == []


def test_get_of_a_task_that_failed_elsewhere_exits_4(cli, server, landscape_image) -> None:
    """get on a failed task created elsewhere is exit 4 with the API's reason."""
    server.control.add_fault("submit", "task_failed", key=cli.key)
    task_id = asyncio.run(submit_elsewhere(server.base_url, cli.key, landscape_image))
    wait_for(lambda: server.control.task(task_id)["status"] == "failed", what="the failure")
    result = cli.run("get", task_id)
    assert result.returncode == 4 and "failed" in one_error(result.stderr)
    assert cli.row()["state"] == "failed"
