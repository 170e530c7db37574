"""`extend` and `export` as subprocesses: longer shots, a chain killed mid-way, local exports."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import av
from PIL import Image

from .conftest import one_error, wait_for


def _first(cli, image: Path) -> str:
    """A finished 5 s video made with `generate`; its task id."""
    result = cli.run("generate", image, "-p", "slow zoom in", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["task_id"]


def _frames(video: Path) -> tuple[int, tuple[int, int]]:
    """The number of decoded frames of a video, and its size."""
    with av.open(str(video)) as container:
        frames = [frame for frame in container.decode(video=0)]
    return len(frames), (frames[0].width, frames[0].height)


def _shots(cli) -> list[dict]:
    with sqlite3.connect(f"file:{cli.home / 'journal.sqlite3'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM shots ORDER BY shot_id")]


def test_extend_makes_one_shot_of_its_segments(cli, server, landscape_image) -> None:
    """extend --times 2 --json prints a shot of three segments, each submitted once, as one MP4."""
    first = _first(cli, landscape_image)
    result = cli.run("extend", first, "-p", "drift to the left", "--times", "2", "--json")
    assert result.returncode == 0, result.stderr
    shot = json.loads(result.stdout)
    assert shot["state"] == "ready" and shot["seconds"] == 15 and len(shot["segments"]) == 3
    assert [segment["prompt"] for segment in shot["segments"]][1:] == ["drift to the left"] * 2
    for segment in shot["segments"]:
        assert server.control.task(segment["task_id"])["submits"] == 1
    count, size = _frames(Path(shot["video_path"]))
    assert size == (1280, 720) and count == 3 * 120 - 2
    assert shot["output"] == shot["video_path"] and "new segment 2 of 2" in result.stderr
    cli.assert_key_nowhere()


def test_a_chain_killed_mid_way_is_resumed_without_a_second_submit(cli, server, landscape_image) -> None:
    """SIGKILL while the second of three segments is made: `resume` finishes it, makes the third, joins."""
    first = _first(cli, landscape_image)
    running = cli.start("extend", first, "-p", "push in slowly", "--times", "3")

    def second_processing() -> bool:
        made = [r["state"] for r in cli.rows() if r["prompt"] == "push in slowly"]
        return made == ["completed", "processing"]

    wait_for(second_processing, timeout=60, what="the second segment processing")
    assert running.stop(signal.SIGKILL) == -signal.SIGKILL
    [shot] = _shots(cli)
    assert shot["state"] == "extending" and shot["planned"] == 4
    result = cli.run("resume")
    assert result.returncode == 0, result.stderr
    assert "resuming 1 shot(s)" in result.stderr
    line = result.stdout.strip().splitlines()[-1].split("\t")
    assert line[:2] == ["shot-1", "ready"] and Path(line[2]).is_file()
    made = [r for r in cli.rows() if r["prompt"] == "push in slowly"]
    assert [r["state"] for r in made] == ["completed"] * 3
    assert all(server.control.task(r["task_id"])["submits"] == 1 for r in made)
    count, _ = _frames(Path(line[2]))
    assert count == 4 * 120 - 3
    assert _shots(cli)[0]["state"] == "ready"


def test_exports_decode_with_the_expected_frames_and_size(cli, landscape_image, tmp_path) -> None:
    """--gif and --webp at 240 px and 10 fps, --loop pingpong and --trim 1:3 make what they say."""
    first = _first(cli, landscape_image)
    made = {}
    for option in (["--gif"], ["--webp"], ["--loop", "pingpong"], ["--trim", "1:3"]):
        result = cli.run("export", first, *option, "--width", "240", "--fps", "10", "--json")
        assert result.returncode == 0, result.stderr
        made[option[0]] = Path(json.loads(result.stdout)["output"])
    for option in ("--gif", "--webp"):
        with Image.open(made[option]) as image:
            assert image.size == (240, 135) and image.n_frames == 50
    assert _frames(made["--loop"]) == (2 * 120 - 2, (1280, 720))
    assert _frames(made["--trim"]) == (48, (1280, 720))
    out = tmp_path / "mine.gif"
    assert cli.run("export", first, "--gif", "-o", out).stdout.strip() == str(out) and out.is_file()


def test_export_needs_exactly_one_kind(cli, landscape_image) -> None:
    """Two kinds at once, or a trim whose end comes first, exit 2 with one error line."""
    first = _first(cli, landscape_image)
    both = cli.run("export", first, "--gif", "--webp")
    assert both.returncode == 2 and "Choose one of" in one_error(both.stderr)
    backwards = cli.run("export", first, "--trim", "3:1")
    assert backwards.returncode == 2 and "START before END" in one_error(backwards.stderr)
