"""History and fetch-by-id through the launched app: listing, reuse, adoption, check, isolation."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from luma_playground import ApiKey, Playground, Settings
from luma_playground._config import RAY_2_FLASH
from luma_playground._journal.journal import TaskRecord
from luma_playground._wavespeed.retry import RetryPolicy
from luma_playground.simulator import key_fingerprint
from luma_playground.ui import KEY_HEADER

from ..conftest import submit_elsewhere, wait_for
from .conftest import SERVER_KEY, call_private, generate, launched

FLASH = RAY_2_FLASH.id


@pytest.fixture(scope="module")
def shared_app(sim_server, outside_tmp: Path) -> Iterator[gr.Blocks]:  # type: ignore[no-untyped-def]
    """The owner's key on a deployment others can reach (a Space), on the simulator."""
    settings = Settings(
        base_url=sim_server.base_url,
        api_key=ApiKey(SERVER_KEY),
        data_dir=outside_tmp / "shared-history",
        space=True,
    )
    playground = Playground.open(settings, retry=RetryPolicy(scale=0), start_simulator=False)
    with launched(playground) as demo:
        yield demo


@pytest.fixture(scope="module")
def new_visitor(shared_app: gr.Blocks) -> Iterator[Callable[..., Client]]:
    """Makes visitors of the shared deployment, each a session of its own (a key header if given).

    They are closed together at the end: each close waits up to a second for its heartbeat.
    """
    made: list[Client] = []

    def new(key: str | None = None) -> Client:
        headers = {KEY_HEADER: key} if key else None
        made.append(Client(shared_app.local_url, headers=headers, verbose=False))
        return made[-1]

    yield new
    with ThreadPoolExecutor(len(made) or 1) as pool:
        list(pool.map(Client.close, made))


@pytest.fixture
def visitor(new_visitor: Callable[..., Client]) -> Client:
    """A fresh visitor with no key of their own."""
    return new_visitor()


def finished_elsewhere(sim, key: str, image: Path, prompt: str) -> str:  # type: ignore[no-untyped-def]
    """A task another client made with `key`, once the simulator has finished it; its id."""
    task_id = submit_elsewhere(sim.base_url, key, image, prompt)
    wait_completed(sim, task_id)
    return task_id


def wait_completed(sim, task_id: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while sim.control.task(task_id)["status"] != "completed":
        assert time.monotonic() < deadline, sim.control.task(task_id)
        time.sleep(0.05)


def row_of(demo: gr.Blocks, task_id: str) -> int:
    record = demo.playground.journal.by_task_id(task_id)  # type: ignore[attr-defined]
    assert record is not None
    return record.row_id


def test_history_lists_generations_newest_first(
    visitor: Client,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
    portrait_image: Path,
) -> None:
    """Two generations come back newest first, with their parameters and a saved video."""
    first = generate(visitor, landscape_image, "First: a quiet morning")
    second = generate(visitor, portrait_image, "Second: a quiet evening", "720*1280")
    entries = visitor.predict(api_name="/history")
    assert [e["task_id"] for e in entries] == [second, first]
    newest = entries[0]
    assert newest["prompt"] == "Second: a quiet evening"
    assert (newest["size"], newest["duration"], newest["state"]) == ("720*1280", 5, "completed")
    assert newest["video_saved"] and not newest["pending"]
    assert newest["created_at"] >= entries[1]["created_at"]  # ISO times, to the second
    assert not {"owner", "key_fingerprint", "video_path", "image"} & set(newest)


def test_use_again_returns_the_settings(
    visitor: Client,
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    sim,
    portrait_image: Path,
) -> None:
    """ "Use these settings again" gives back the image, prompt, size, duration and model."""
    task_id = generate(visitor, portrait_image, "Leaves drift past the window", "720*1280")
    ref = row_of(shared_app, task_id)
    image, prompt, size, duration, model = call_private(visitor, "history_use_again", ref)
    assert (prompt, size, duration, model) == (
        "Leaves drift past the window",
        "720*1280",
        5,
        "luma/ray-2-i2v",
    )
    assert Path(image).read_bytes() == portrait_image.read_bytes()


def test_fetch_adopts_a_task_made_elsewhere_only_for_its_owner(
    client: Client,
    server_app: gr.Blocks,
    visitor: Client,
    shared_app: gr.Blocks,
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """A task another client made with the playground's key: its owner fetches it, a shared visitor cannot."""
    task_id = finished_elsewhere(sim, SERVER_KEY, landscape_image, "made on the website")
    row_id, facts, video, *_ = call_private(client, "history_fetch", f"  {task_id} ")
    assert int(row_id) == row_of(server_app, task_id)
    assert Path(video["value"]).stat().st_size > 0 and "made on the website" in facts
    [entry] = [entry for entry in client.predict(api_name="/history") if entry["task_id"] == task_id]
    assert (entry["state"], entry["prompt"]) == ("completed", "made on the website")
    assert (entry["size"], entry["duration"]) == ("720*1280", 5)

    # On a shared deployment a keyless visitor cannot bring it in, nor see it.
    polls = sim.control.task(task_id)["polls"]
    with pytest.raises(AppError, match="enter the WaveSpeed key that created it"):
        call_private(visitor, "history_fetch", task_id)
    with pytest.raises(AppError, match="enter the WaveSpeed key that created it"):
        visitor.predict(task_id, api_name="/get_task")
    assert shared_app.playground.journal.by_task_id(task_id) is None  # type: ignore[attr-defined]
    assert sim.control.task(task_id)["polls"] == polls  # not even asked for with the owner's key
    assert visitor.predict(api_name="/history") == []


def test_fetch_with_the_sessions_own_key(
    new_visitor: Callable[..., Client],
    sim,  # type: ignore[no-untyped-def]
    landscape_image: Path,
) -> None:
    """A visitor's key fetches that key's task; another visitor is told it is not theirs."""
    key = "sk-visitor-fetch-0001"
    task_id = submit_elsewhere(sim.base_url, key, landscape_image, "my own task")
    other_key = submit_elsewhere(sim.base_url, "sk-someone-else-0002", landscape_image, "theirs")
    wait_completed(sim, task_id)
    owner, stranger = new_visitor(), new_visitor()
    call_private(owner, "set_key", key, False)
    _, _, video, *_ = call_private(owner, "history_fetch", task_id)
    assert Path(video["value"]).is_file()  # the player's update: the video and its label
    with pytest.raises(AppError, match="belongs to someone else"):
        call_private(stranger, "history_fetch", task_id)
    for unknown in (other_key, "0123456789abcdef-unknown"):
        with pytest.raises(AppError, match="no task with this id in your history"):
            call_private(stranger, "history_fetch", unknown)
    with pytest.raises(AppError, match="Paste a task id"):
        call_private(stranger, "history_fetch", "../../etc/passwd")


def test_check_for_results_finishes_a_pending_task(
    visitor: Client,
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    sim,
    landscape_image: Path,
) -> None:
    """A row left pending (its follower stopped) is finished by "Check for results"."""
    task_id = submit_elsewhere(sim.base_url, SERVER_KEY, landscape_image, "left behind")
    journal = shared_app.playground.journal  # type: ignore[attr-defined]
    row_id = journal.begin(
        model="luma/ray-2-i2v",
        backend="wavespeed",
        base_url=sim.base_url,
        owner=f"session:{visitor.session_hash}",
        key_fingerprint=key_fingerprint(SERVER_KEY),
        prompt="left behind",
        size="720*1280",
        duration=5,
        image="",
        image_url=None,
    )
    journal.update(row_id, "created", task_id=task_id)
    [before] = visitor.predict(api_name="/history")
    assert before["pending"] and before["state"] == "created"
    call_private(visitor, "history_check")
    [after] = visitor.predict(api_name="/history")
    assert after["state"] == "completed" and after["video_saved"]
    assert Path(journal.get(row_id).video_path).is_file()


def test_a_new_key_resumes_its_pending_tasks(
    visitor: Client,
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    new_visitor: Callable[..., Client],
    sim,
    landscape_image: Path,
) -> None:
    """Entering a key in a session finishes that key's pending tasks in the background."""
    key = "sk-returning-visitor-42"
    task_id = submit_elsewhere(sim.base_url, key, landscape_image, "from last week")
    journal = shared_app.playground.journal  # type: ignore[attr-defined]
    row_id = journal.begin(
        model="luma/ray-2-i2v",
        backend="wavespeed",
        base_url=sim.base_url,
        owner="session:closed-long-ago",
        key_fingerprint=key_fingerprint(key),
        prompt="from last week",
        size="720*1280",
        duration=5,
        image="",
        image_url=None,
    )
    journal.update(row_id, "created", task_id=task_id)
    call_private(visitor, "set_key", key, False)
    call_private(visitor, "resume_for_key", key)
    deadline = time.monotonic() + 20
    while journal.get(row_id).pending:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert journal.get(row_id).state == "completed"
    [entry] = new_visitor(key).predict(api_name="/history")  # any session of the key sees it
    assert entry["task_id"] == task_id and entry["video_saved"]


def test_sessions_see_only_their_own_history(
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    new_visitor: Callable[..., Client],
    sim,
    landscape_image: Path,
) -> None:
    """On a shared deployment each visitor sees their session's and their key's tasks only."""
    alice, bob = new_visitor("sk-alice-history-01"), new_visitor("sk-bob-history-0002")
    nobody = new_visitor()
    alices = generate(alice, landscape_image, "Alice's lighthouse")
    bobs = generate(bob, landscape_image, "Bob's harbour")
    assert [e["task_id"] for e in alice.predict(api_name="/history")] == [alices]
    assert [e["task_id"] for e in bob.predict(api_name="/history")] == [bobs]
    assert nobody.predict(api_name="/history") == []
    with pytest.raises(AppError, match="not in your history"):
        call_private(nobody, "history_use_again", row_of(shared_app, alices))
    # The same key from another client (a new session) finds its tasks again.
    again = new_visitor("sk-bob-history-0002")
    assert [e["task_id"] for e in again.predict(api_name="/history")] == [bobs]


def test_the_owner_sees_every_task_locally(client: Client, server_app: gr.Blocks) -> None:
    """Not shared: the owner's History holds the tasks of every session and of the CLI."""
    journal = server_app.playground.journal  # type: ignore[attr-defined]
    for owner in ("local", "session:someone-else"):
        journal.begin(
            model="luma/ray-2-i2v",
            backend="wavespeed",
            base_url="http://x",
            owner=owner,
            key_fingerprint="",
            prompt=f"made by {owner}",
            size="1280*720",
            duration=10,
            image="",
            image_url=None,
        )
    prompts = [e["prompt"] for e in client.predict(api_name="/history")]
    assert prompts[:2] == ["made by session:someone-else", "made by local"]


def test_history_is_the_only_other_public_endpoint(server_app: gr.Blocks) -> None:
    """`/history` is public and takes no input; fetch, check and reuse stay off the API page."""
    info = httpx.get(f"{server_app.local_url}gradio_api/info").json()
    assert info["named_endpoints"]["/history"]["parameters"] == []
    assert not [name for name in info["named_endpoints"] if name.startswith("/history_")]


def test_a_shot_stays_with_its_maker_on_a_shared_deployment(
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    new_visitor: Callable[..., Client],
    sim,
    landscape_image: Path,
) -> None:
    """Another visitor cannot open, compare, reuse or see someone's shot; its maker's History has it."""
    maker, stranger = new_visitor("sk-shot-maker-key-0001"), new_visitor()
    first = generate(maker, landscape_image, "A shot of my own")
    _, record = maker.predict(first, "and further", 5, api_name="/extend")
    shot = record["shot"]["name"]
    assert f'data-ref="{shot}"' in call_private(maker, "refresh", None)[0]
    assert f'data-ref="{shot}"' not in call_private(stranger, "refresh", None)[0]
    for event in ("page_shot_open", "history_use_again", "open_with"):
        with pytest.raises(AppError, match=r"not in your history|no task or shot"):
            call_private(stranger, event, shot, *([None] if event == "open_with" else []))


def test_history_shows_a_final_beside_its_draft(
    new_visitor: Callable[..., Client],
    shared_app: gr.Blocks,  # type: ignore[no-untyped-def]
    sim,
    landscape_image: Path,
) -> None:
    """A Ray 2 final's card comes first and its draft's right after it, each naming the other."""
    visitor = new_visitor("sk-draft-pair-key-0001")
    journal = shared_app.playground.journal  # type: ignore[attr-defined]
    _, draft = visitor.predict(
        handle_file(str(landscape_image)), "A draft to finish", "1280*720", 5, FLASH, api_name="/generate"
    )
    between = generate(visitor, landscape_image, "Made after the draft")
    draft_row = row_of(shared_app, draft["task_id"])
    call_private(visitor, "history_finish", str(draft_row))

    def final_saved() -> TaskRecord | None:
        finals = [r for r in journal.history(limit=100) if r.draft_task_id == draft["task_id"]]
        return finals[0] if finals and finals[0].video_path else None

    final = wait_for(final_saved, what="the Ray 2 final")
    cards = call_private(visitor, "refresh", None)[0]
    refs = re.findall(r'<article class="lp-card[^"]*"[^>]*data-ref="([^"]+)"', cards)
    assert refs == [str(final.row_id), str(draft_row), str(row_of(shared_app, between))]
    final_card, draft_card, _ = cards.split("<article")[1:]
    assert f"Ray 2 final of draft {draft['task_id'][:10]}" in final_card
    assert f"Flash draft, finished in Ray 2 as {final.task_id[:10]}" in draft_card
