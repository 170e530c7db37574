"""The app's own files (videos, shots, posters, exports, batch zips) at addresses that name no server folder.

Each kind of file has a route of its own that serves a file of one folder under the outputs by its
name alone: `/videos/<task id>.mp4` (a shot's `/videos/shot-3-<keyed hash>.mp4`), `/posters/...`,
`/exports/...` and `/batches/...`. A name is its file's only lock: task ids are known only to
their owners, and the app's other names carry a keyed hash (`_file_names.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["ARCHIVES", "EXPORTS", "POSTERS", "VIDEOS", "ServedFiles", "file_routes"]

_NOT_HERE = "There is no such file here."


@dataclass(frozen=True, slots=True)
class ServedFiles:
    """One kind of the app's files: its route, its folder under the outputs, the types it serves."""

    route: str
    folder: str
    types: Mapping[str, str]
    #: Sent as a download (with its name) rather than shown in the page.
    attachment: bool = True

    def address(self, path: Path | str, root: str | None = None) -> str:
        """Where the file is served: under the app's `root` URL, else relative to the page."""
        relative = f"{self.route.lstrip('/')}/{quote(Path(path).name)}"
        return f"{root}/{relative}" if root else relative

    def media_type(self, path: Path | str) -> str:
        return self.types.get(Path(path).suffix.lower(), "application/octet-stream")

    def route_for(self, outputs_dir: Path) -> Any:
        """The Starlette route: a file directly in this folder, of a served type; 404 otherwise."""
        from starlette.responses import FileResponse, PlainTextResponse, Response
        from starlette.routing import Route

        folder = outputs_dir / self.folder if self.folder else outputs_dir

        async def serve(request: Any) -> Response:
            name = str(request.path_params["name"])
            path = folder / name
            served = Path(name).name == name and not name.startswith(".") and Path(name).suffix in self.types
            if not served or not path.is_file():
                return PlainTextResponse(_NOT_HERE, status_code=404)
            return FileResponse(
                path,
                media_type=self.media_type(name),
                filename=name if self.attachment else None,
            )

        return Route(self.route + "/{name}", serve, methods=["GET", "HEAD"])


#: Saved videos, by task id, and joined shots, by their keyed names (directly in the outputs).
VIDEOS = ServedFiles("/videos", "", {".mp4": "video/mp4"})
#: History's poster frames, named after their videos.
POSTERS = ServedFiles("/posters", "posters", {".jpg": "image/jpeg"}, attachment=False)
#: GIF, WebP, loop and trim exports, named after their videos.
EXPORTS = ServedFiles(
    "/exports", "exports", {".gif": "image/gif", ".webp": "image/webp", ".mp4": "video/mp4"}
)
#: A batch's zip of its videos, by its keyed name.
ARCHIVES = ServedFiles("/batches", "batches", {".zip": "application/zip"})


def file_routes(outputs_dir: Path) -> list[Any]:
    """The routes of every kind of the app's files under `outputs_dir`."""
    return [kind.route_for(outputs_dir) for kind in (VIDEOS, POSTERS, EXPORTS, ARCHIVES)]
