"""Names for the files the app makes of several tasks (a shot's MP4, a batch's zip).

Gradio serves the outputs folder to whoever asks for a path in it, so a file's name is its only
lock. A task's video is named after its task id, which only its owner knows; a shot or a batch
has a small counter for an id, so its file name carries a keyed hash of that name as well. The
key is made once per home folder and never leaves it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

#: The per-home key, in the data folder beside the journal.
KEY_FILE = "file-names.key"


def unguessable(data_dir: Path, name: str) -> str:
    """`name` with a part only this home folder can compute: `shot-3` -> `shot-3-1f0c...`."""
    digest = hmac.new(_home_key(data_dir), name.encode(), hashlib.sha256).hexdigest()
    return f"{name}-{digest[:20]}"


def _home_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if path.is_file():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    draft = data_dir / f".{KEY_FILE}.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(secrets.token_bytes(32))
    try:
        # A link appears whole or not at all: two processes starting at once keep the first key.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes()
