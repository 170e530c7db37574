"""The one place the playground reaches past Gradio's public API, and why.

Integer radios. Gradio describes every Radio's values as strings in the API page and the MCP tool, even when
they are integers (`Radio.api_info` says `"type": "string"`), so callers send `"5"` for a
duration of 5. No option or public hook changes a component's API description, and a Component
subclass makes Gradio write a `.pyi` stub next to the module that defines it. So the instance's
`api_info` is replaced; `tests/ui/test_gradio_compat.py` fails if Gradio stops reading it there.

The caller's address. A record names where the app serves a saved video; the app's public root
comes from the request through Gradio's own resolver (proxies' forwarded headers included).

Files by address. An endpoint's file (a video, an export, a batch's zip) is served by the app's
own route (`_file_routes.py`), which names no server folder; Gradio's clients fetch a file from
its `url` only when it is marked a stream (gradio_client otherwise asks Gradio's file route for
its `path`, which would have to be the server's), so the app's files are marked so and their
`path` is their name alone.

Shown files. The outputs folder is one of Gradio's static paths (its files are shown in place,
not copied on every draw), and Gradio names a static file in its address by the path it was
given. A component is given an output through a link to the outputs folder in Gradio's upload
folder (`shown_file`): Gradio checks and serves it as the folder's own (it resolves links), and
the address names only its temp folder.

JSON for agents. Gradio's MCP server turns every non-file output into `str(value)`, a Python
repr for a dict; the public endpoints' data reaches MCP clients as JSON text instead.

Server files named by MCP. Gradio's MCP server hands a tool call's arguments to an in-process
client, which reads any `{"path": ..., "meta": {"_type": "gradio.FileData"}}` from the server's
disk and uploads it into the upload folder, where it would pass for the caller's own upload. A
file object that names a path outside the upload folder is made plain data before that client
sees it (`keep_server_files_out_of_mcp`), so the endpoint refuses it like any foreign path.

Copied pictures. Gradio shows only files under its upload folder (or allowed paths), and names
that folder only through its utilities; pictures fetched from a URL (by the playground's own
checked fetch) and copied for "use again" go there, pinned by the same tests.

An idle queue. Gradio's queue looks for new events every millisecond on Linux (every 50 on
Windows) and for progress to send every 10 ms, even with nothing to do: an idle app used 7 % of
a core. There is no option for either, so the queue's two intervals are set on it
(`quiet_idle_queue`): a new event waits at most `QUEUE_LOOK_S` more to start, a progress message
at most `PROGRESS_LOOK_S`, and an idle app uses about 2 %.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import mcp, route_utils
from gradio.utils import get_upload_folder, is_in_or_equal
from gradio_client import utils as client_utils

from .._config import Settings
from .._journal.file_names import unguessable
from .._pictures.sources import Picture, is_data_uri, is_url
from ._file_routes import ServedFiles

#: How often the queue looks for a new event to start, and for progress to send (seconds).
QUEUE_LOOK_S = 0.02
PROGRESS_LOOK_S = 0.05

__all__ = [
    "announce_integers",
    "app_root",
    "file_data",
    "is_inside",
    "json_text_for_agents",
    "keep_server_files_out_of_mcp",
    "quiet_idle_queue",
    "sent_picture",
    "shown_file",
    "upload_folder",
    "uploaded_picture",
    "url_downloads",
]


def quiet_idle_queue(demo: gr.Blocks) -> None:
    """Make the queue of `demo` (after `demo.queue()`) look for work less often when it has none."""
    queue = demo._queue
    queue.sleep_when_free = QUEUE_LOOK_S
    queue.progress_update_sleep_when_free = PROGRESS_LOOK_S


def announce_integers(radio: gr.Radio) -> None:
    """Describe the radio's values as integers in the API page (they all are)."""
    stock_info = radio.api_info

    def api_info() -> dict[str, Any]:
        return {**stock_info(), "type": "integer"}

    radio.api_info = api_info  # type: ignore[method-assign]


def upload_folder() -> Path:
    """Gradio's folder for uploaded files: a file there may be shown by any component."""
    return Path(get_upload_folder())


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """True when `path` is `folder` or lies under it, as Gradio decides what it may serve."""
    return bool(is_in_or_equal(str(path), str(folder)))


def uploaded_picture(path: str | Path) -> Picture:
    """The caller's upload as a `Picture`: a file inside Gradio's upload folder, else `NOT_YOURS`."""
    return Picture.within(path, [upload_folder()])


def sent_picture(image: str | None) -> str | Picture | None:
    """A page event's picture: a URL or data URI as sent, a path only as the caller's own upload."""
    if image is None or is_url(image) or is_data_uri(image):
        return image
    return uploaded_picture(image)


def url_downloads() -> Path:
    """Where pictures fetched from URLs are kept: under the upload folder, so they can be shown."""
    return upload_folder() / "urls"


def shown_file(path: str | Path, settings: Settings) -> str:
    """A file of the outputs folder as a component is given it: by a link that names no server folder.

    A file elsewhere, or where links cannot be made, is given as it is.
    """
    try:
        inner = Path(path).relative_to(settings.outputs_dir)
    except ValueError:
        return str(path)
    view = _outputs_view(settings.outputs_dir, settings.data_dir)
    return str(view / inner) if view is not None else str(path)


def _outputs_view(outputs_dir: Path, data_dir: Path) -> Path | None:
    """The link to `outputs_dir` in Gradio's upload folder (made when missing)."""
    link = upload_folder() / unguessable(data_dir, "outputs")
    if link.is_symlink():
        return link
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(outputs_dir.resolve(), target_is_directory=True)
    except FileExistsError:
        pass  # made meanwhile by another event
    except OSError:
        return None
    return link


def app_root(request: gr.Request | None) -> str | None:
    """The app's public root URL as the caller reached it (no trailing slash); None outside one."""
    raw = getattr(request, "request", None)
    if raw is None:
        return None
    try:
        return route_utils.get_root_url(raw, route_path=raw.url.path, root_path=raw.scope.get("root_path"))
    except (AttributeError, KeyError, ValueError):
        return None


def file_data(path: Path, kind: ServedFiles, root: str | None) -> dict[str, Any]:
    """An app file as Gradio's clients take it: fetched from its own route, named by its name alone."""
    return {
        "path": path.name,
        "url": kind.address(path, root) if root else "/" + kind.address(path),
        "orig_name": path.name,
        "mime_type": kind.media_type(path),
        "is_stream": True,
        "meta": {"_type": "gradio.FileData"},
    }


def _as_json_text(value: Any) -> Any:
    if client_utils.is_file_obj_with_meta(value) or not isinstance(value, dict | list):
        return value
    return json.dumps(value, ensure_ascii=False)


def json_text_for_agents() -> None:
    """Make Gradio's MCP server give dict and list outputs as JSON text (once per process)."""
    server = mcp.GradioMCPServer
    stock = server.postprocess_output_data
    if getattr(stock, "json_text", False):
        return

    def postprocess_output_data(self: Any, data: Any, root_url: str) -> Any:
        outputs = []
        for value in data:
            # A tuple of outputs (a file and its record) arrives as one list: give each its own.
            if isinstance(value, list) and any(client_utils.is_file_obj_with_meta(v) for v in value):
                outputs.extend(value)
            else:
                outputs.append(value)
        return stock(self, [_as_json_text(value) for value in outputs], root_url)

    postprocess_output_data.json_text = True  # type: ignore[attr-defined]
    server.postprocess_output_data = postprocess_output_data  # type: ignore[method-assign]


def _plain_unless_uploaded(value: dict[str, Any]) -> dict[str, Any]:
    path = value.get("path")
    if isinstance(path, str) and (client_utils.is_http_url_like(path) or is_inside(path, upload_folder())):
        return value
    # No `meta`: no client uploads it and Gradio moves nothing; the endpoint sees a foreign path.
    return {"path": path}


def keep_server_files_out_of_mcp() -> None:
    """Stop Gradio's MCP server copying a server file a tool call names (once per process)."""
    server = mcp.GradioMCPServer
    stock = server._prepare_tool_call_args
    if getattr(stock, "plain_paths", False):
        return

    def _prepare_tool_call_args(self: Any, name: str, arguments: dict[str, Any]) -> Any:
        endpoint, args, headers, block_fn = stock(self, name, arguments)
        args = client_utils.traverse(args, _plain_unless_uploaded, client_utils.is_file_obj_with_meta)
        return endpoint, args, headers, block_fn

    _prepare_tool_call_args.plain_paths = True  # type: ignore[attr-defined]
    server._prepare_tool_call_args = _prepare_tool_call_args  # type: ignore[method-assign]
