"""Draft in Ray 2 Flash, finish in Ray 2, from the command line: `generate --model flash`, then `finish`."""

from __future__ import annotations

import json

from luma_playground._config import RAY_2, RAY_2_FLASH, key_fingerprint


def test_a_flash_draft_is_finished_by_its_task_id(cli, server, landscape_image) -> None:
    """generate --model flash, then finish TASK_ID: one upload, a Flash task, then its Ray 2 final."""
    drafted = cli.run("generate", landscape_image, "-p", "slow zoom in", "--model", "flash", "--json")
    assert drafted.returncode == 0, drafted.stderr
    draft = json.loads(drafted.stdout)
    finished = cli.run("finish", draft["task_id"], "--json")
    assert finished.returncode == 0, finished.stderr
    final = json.loads(finished.stdout)
    assert (draft["model"], final["model"]) == (RAY_2_FLASH.id, RAY_2.id)
    assert final["draft_task_id"] == draft["task_id"]
    assert (final["prompt"], final["size"], final["duration"]) == ("slow zoom in", "1280*720", 5)
    routes = server.control.stats()["keys"][key_fingerprint(cli.key)]
    assert (routes.get("upload"), routes.get("submit")) == (1, 2)
    assert [server.control.task(row["task_id"])["model"] for row in (draft, final)] == [
        RAY_2_FLASH.id,
        RAY_2.id,
    ]


def test_finishing_a_ray_2_video_exits_2_in_one_line(cli, server, landscape_image) -> None:
    """finish refuses a video that is not a Flash draft with exit code 2, before anything is spent."""
    made = cli.run("generate", landscape_image, "-p", "pan left", "--json")
    assert made.returncode == 0, made.stderr
    refused = cli.run("finish", json.loads(made.stdout)["task_id"])
    assert refused.returncode == 2 and "Only a Ray 2 Flash draft" in refused.stderr
    assert server.control.stats()["keys"][key_fingerprint(cli.key)].get("submit") == 1


def test_price_names_the_model_and_its_price(cli, server) -> None:
    """price --model flash gives Flash's price, below Ray 2's."""
    flash = json.loads(cli.run("price", "--model", "flash", "--json").stdout)
    ray = json.loads(cli.run("price", "--json").stdout)
    assert (flash["model"], ray["model"]) == (RAY_2_FLASH.id, RAY_2.id)
    assert flash["usd_per_video"] < ray["usd_per_video"]
