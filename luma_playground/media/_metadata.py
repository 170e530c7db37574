"""Settings kept inside the MP4: one JSON object in the container's `comment` tag, the prompt as its title.

PyAV's mov muxer keeps only the standard iTunes-style keys (title, comment, description, artist, ...)
unless `movflags=+use_metadata_tags` is set, and with that flag it writes every key as a QuickTime `mdta`
key instead, which some players do not show. One JSON document in `comment` survives the plain muxer,
any UTF-8 text included, and is what ffprobe and exiftool show as the file's comment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import av

from ._frames import MP4_OPTIONS, atomic_path, container_tags

#: Tags the muxer writes by itself, not settings.
_TECHNICAL_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


def read_metadata(video: Path) -> dict[str, str]:
    """The settings stored in the file by the functions here, or its plain tags when it has none."""
    with av.open(str(video)) as container:
        tags = dict(container.metadata)
    settings = _settings(tags.get("comment", ""))
    if settings is not None:
        return settings
    return {key: value for key, value in tags.items() if key not in _TECHNICAL_TAGS}


def _settings(comment: str) -> dict[str, str] | None:
    try:
        parsed = json.loads(comment)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not all(isinstance(value, str) for value in parsed.values()):
        return None
    return parsed


def write_metadata(video: Path, metadata: Mapping[str, str]) -> None:
    """Add `metadata` to the settings in an MP4 (a key given replaces the stored one) by a stream copy:
    no frame is re-encoded, and the file is replaced only once the copy is complete.
    """
    merged = read_metadata(video) | dict(metadata)
    partial = atomic_path(video)
    try:
        _remux(video, partial, container_tags(merged))
        os.replace(partial, video)
    finally:
        partial.unlink(missing_ok=True)


def _remux(source: Path, dest: Path, tags: Mapping[str, str]) -> None:
    with (
        av.open(str(source)) as inp,
        av.open(str(dest), "w", format="mp4", options=dict(MP4_OPTIONS)) as out,
    ):
        out.metadata.update(tags)
        streams = {
            stream.index: out.add_stream_from_template(stream)
            for stream in inp.streams
            if stream.type in ("video", "audio")
        }
        for packet in inp.demux(*(inp.streams[index] for index in streams)):
            # The demuxer ends each stream with an empty packet, which is not data to copy.
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
