"""Pictures taken out of an uploaded zip within fixed bounds, every bound checked before anything is kept.

A zip says how many entries it has and how large each one is before a byte is inflated, and it
may lie. So the end record's entry count and directory size are read first (zipfile would parse
any directory whole), then every picture's declared size, the total and the compression ratio;
only then is each picture streamed to disk, counted as it comes, and refused the moment it grows
past what its entry declared. A refused zip leaves nothing behind. Extractions live in folders of
their own (`zip-<token>`), removed once the batch they feed has ended or its preview is dropped.
"""

from __future__ import annotations

import secrets
import shutil
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from .._errors import InvalidRequest
from .._pictures.checks import MAX_IMAGE_BYTES

__all__ = [
    "EXTRACTION_PREFIX",
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "extract_pictures",
    "extraction_folders",
    "remove_folders",
    "stale_extractions",
]

#: The most entries (pictures, folders and anything else) a zip may hold.
MAX_ENTRIES = 1000
#: The most bytes of central directory read: room for `MAX_ENTRIES` entries with long names.
MAX_DIRECTORY_BYTES = 1 << 20
#: The most bytes all the pictures of one zip may take once extracted.
MAX_TOTAL_BYTES = 512 * 1024 * 1024
#: The most an entry of over a megabyte may expand (its size over its compressed size):
#: pictures are compressed already, so a zip of them expands by a few per cent; a bomb by
#: hundreds or thousands.
MAX_RATIO = 100
#: The name of each extraction's folder starts with this.
EXTRACTION_PREFIX = "zip-"
_CHUNK = 1 << 20
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22


def extract_pictures(
    archive: Path, dest_dir: Path, wanted: Callable[[str], bool], *, max_pictures: int
) -> list[Path]:
    """The entries `wanted` picks, in name order, written to a new folder under `dest_dir`.

    Names are flattened (`NNN-<base name>`), so no path in the archive leads out of the folder.
    """
    _check_directory(archive)
    folder = dest_dir / f"{EXTRACTION_PREFIX}{secrets.token_hex(8)}"
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries = bundle.infolist()
            if len(entries) > MAX_ENTRIES:
                raise _too_many()
            members = sorted(
                (m for m in entries if not m.is_dir() and wanted(m.filename)), key=lambda m: m.filename
            )
            if len(members) > max_pictures:
                raise InvalidRequest(
                    f"A batch holds at most {max_pictures} rows, not {len(members)}.", field="rows"
                )
            _check_declared(members)
            folder.mkdir(parents=True)
            return [
                _copy(bundle, member, index + 1, folder / f"{index:03d}-{Path(member.filename).name}")
                for index, member in enumerate(members)
            ]
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, zipfile.BadZipFile | zlib.error | EOFError):
            raise InvalidRequest("The file is not a readable zip archive.", field="rows") from None
        if isinstance(error, NotImplementedError):
            raise InvalidRequest(
                "The zip uses a compression method this app cannot read: send it deflated or stored.",
                field="rows",
            ) from None
        if isinstance(error, RuntimeError) and "encrypted" in str(error):
            raise InvalidRequest("The zip is encrypted: send one without a password.", field="rows") from None
        raise


def _too_many() -> InvalidRequest:
    return InvalidRequest(f"A zip may hold at most {MAX_ENTRIES:,} entries.", field="rows")


def _check_directory(archive: Path) -> None:
    """Refuse a zip whose end record announces too many entries or too large a directory."""
    with archive.open("rb") as file:
        size = file.seek(0, 2)
        tail_size = min(size, _END_RECORD_SIZE + 0xFFFF)  # the record, then a comment of up to 64 KiB
        file.seek(size - tail_size)
        tail = file.read(tail_size)
    at = tail.rfind(_END_RECORD)
    if at < 0 or len(tail) - at < _END_RECORD_SIZE:
        raise InvalidRequest("The file is not a readable zip archive.", field="rows")
    entries = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    # 0xFFFF entries means a zip64 count, which only a zip with tens of thousands of entries needs.
    if entries > MAX_ENTRIES or directory > MAX_DIRECTORY_BYTES:
        raise _too_many()


def _check_declared(members: list[zipfile.ZipInfo]) -> None:
    """Each picture's declared size, their total and each one's compression ratio, within bounds."""
    total = 0
    for number, member in enumerate(members, start=1):
        if member.file_size > MAX_IMAGE_BYTES:
            raise InvalidRequest(
                f"Picture {number} of the zip is {_mb(member.file_size)}; "
                f"the limit is {_mb(MAX_IMAGE_BYTES)} a picture.",
                field="rows",
            )
        if member.file_size > max(MAX_RATIO * member.compress_size, _CHUNK):
            raise InvalidRequest(
                f"Picture {number} of the zip expands more than {MAX_RATIO} times, which pictures "
                "never do: send an ordinary zip of pictures.",
                field="rows",
            )
        total += member.file_size
    if total > MAX_TOTAL_BYTES:
        raise InvalidRequest(
            f"The zip's pictures add up to {_mb(total)}; the limit is {_mb(MAX_TOTAL_BYTES)}.", field="rows"
        )


def _copy(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, number: int, target: Path) -> Path:
    """Stream one entry to `target`, refused as soon as it grows past its declared size."""
    written = 0
    with bundle.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > member.file_size:
                raise InvalidRequest(
                    f"Picture {number} of the zip is larger than its entry says, so the zip was refused.",
                    field="rows",
                )
            sink.write(chunk)
    return target


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def extraction_folders(images: Iterable[str], dest_dir: Path) -> set[Path]:
    """The extraction folders directly under `dest_dir` that these images lie in."""
    folders = set()
    for image in images:
        parent = Path(image).parent
        if parent.parent == dest_dir and parent.name.startswith(EXTRACTION_PREFIX):
            folders.add(parent)
    return folders


def stale_extractions(dest_dir: Path, keep: set[Path], older_than: float) -> set[Path]:
    """The extraction folders under `dest_dir` not in `keep` and untouched for `older_than` s."""
    if not dest_dir.is_dir():
        return set()
    now = time.time()
    return {
        folder
        for folder in dest_dir.glob(f"{EXTRACTION_PREFIX}*")
        if folder not in keep and now - folder.stat().st_mtime > older_than
    }


def remove_folders(folders: Iterable[Path]) -> None:
    """Remove these folders and what is in them (one that has gone already is no error)."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
