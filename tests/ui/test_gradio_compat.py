"""What the UI relies on in Gradio beyond its documented options: it fails when an upgrade changes it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from luma_playground.ui._components import RAW, choice_radio, image_input, image_path, with_image_path
from luma_playground.ui._gradio_compat import announce_integers


def parameter_types(demo: gr.Blocks, api_name: str) -> list[dict[str, Any]]:
    info = demo.get_api_info()
    assert info is not None
    return [param["type"] for param in info["named_endpoints"][f"/{api_name}"]["parameters"]]


def echo(size: Any, duration: Any) -> str:
    """Echo the values."""
    return f"{size} {duration}"


def test_gradio_still_describes_integer_radios_as_strings() -> None:
    """Stock Radio says "string" for integer values; when this fails, `announce_integers` can go."""
    radio = gr.Radio([("5 seconds", 5), ("10 seconds", 10)], render=False)
    assert radio.api_info() == {"enum": [5, 10], "title": "Radio", "type": "string"}


def test_the_api_page_reads_the_radios_own_description() -> None:
    """The API page asks the radio instance for its description: an integer radio shows integers."""
    with gr.Blocks() as demo:
        size = choice_radio([("Landscape", "1280*720")], value="1280*720")
        duration = choice_radio([("5 seconds", 5), ("10 seconds", 10)], value=5)
        out = gr.Textbox()
        gr.Button().click(echo, [size, duration], out, api_name="echo")
    size_type, duration_type = parameter_types(demo, "echo")
    assert size_type == {"enum": ["1280*720"], "title": "Radio", "type": "string"}
    assert duration_type == {"enum": [5, 10], "title": "Radio", "type": "integer"}
    plain = gr.Radio([("a", 1)], render=False)
    announce_integers(plain)
    assert plain.api_info()["type"] == "integer" and plain.api_info()["enum"] == [1]


def test_a_raw_event_keeps_a_bad_value_for_the_handler(tmp_path: Any) -> None:
    """With `preprocess=False` the handler gets a radio value off the list and an unopened file."""
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    with gr.Blocks() as demo:
        image = image_input()
        duration = choice_radio([("5 seconds", 5)], value=5)
        out = gr.Textbox()
        seen: list[Any] = []

        def handler(picture: str | None, seconds: object) -> str:
            seen.append((picture, seconds))
            return "ok"

        gr.Button().click(with_image_path(handler, image), [image, duration], out, api_name="raw", **RAW)
    fn = demo.fns[0]
    assert fn.preprocess is False
    payload = {"path": str(not_an_image), "meta": {"_type": "gradio.FileData"}, "orig_name": "notes.png"}
    assert image_path(image, payload) == str(not_an_image)
    assert with_image_path(handler, image)(payload, "7") == "ok"
    assert seen == [(str(not_an_image), "7")]


def test_the_upload_folder_is_where_gradio_serves_uploads(tmp_path: Any) -> None:
    """The folder and the inside check agree with Gradio's own upload handling."""
    from gradio.utils import get_upload_folder

    from luma_playground.ui._gradio_compat import is_inside, upload_folder

    assert str(upload_folder()) == get_upload_folder()
    assert is_inside(upload_folder() / "a" / "b.png", upload_folder())
    assert not is_inside(tmp_path / "b.png", upload_folder() / "a")


def test_an_idle_queue_looks_for_work_at_the_intervals_set_on_it(monkeypatch: Any) -> None:
    """Gradio's idle queue sleeps for the intervals `quiet_idle_queue` sets, not its own 1 ms and 10 ms."""
    import asyncio
    import threading
    import types

    from gradio import queueing

    from luma_playground.ui._gradio_compat import PROGRESS_LOOK_S, QUEUE_LOOK_S, quiet_idle_queue

    with gr.Blocks() as demo:
        gr.Button().click(lambda: None)
    demo.queue()
    quiet_idle_queue(demo)
    queue = demo._queue
    slept: list[float] = []
    here = threading.current_thread()

    async def sleep(seconds: float) -> None:
        if threading.current_thread() is not here:  # another app's queue, in this process
            return await asyncio.sleep(seconds)
        slept.append(seconds)
        queue.stopped = True

    shim = types.ModuleType("asyncio")  # the queue module's asyncio, but for its sleep
    shim.__dict__.update(vars(asyncio), sleep=sleep)
    monkeypatch.setattr(queueing, "asyncio", shim)
    asyncio.run(queue.start_processing())
    queue.stopped = False
    asyncio.run(queue.start_progress_updates())
    assert slept == [QUEUE_LOOK_S, PROGRESS_LOOK_S]
