"""What a batch is made of: rows from a CSV, from several pictures with one prompt, or a zip of them.

Each row is checked as the one-video start path checks it (`GenerationRequest.create`), so that
a batch is refused whole, before anything is spent, when one of its rows would be.
The total price is the pricing route's price per 5 s block, times each row's blocks; when the
route does not answer, the price a single start would reserve (the last one the route gave, else
the contract's) stands in, marked as an estimate.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TextIO, TypeVar

from .._config import MODEL_ID, ApiKey, Settings
from .._errors import InvalidRequest, LumaPlaygroundError
from .._guard.limits import Caller
from .._guard.spend import SpendGuard
from .._journal.journal import Journal, TaskRecord
from .._pictures.sources import Picture, is_data_uri, is_url
from .._request import FIELDS, OPTIONS, GenerationRequest, Size
from .._run.jobs import Job
from .bounded_zip import extract_pictures, extraction_folders, remove_folders

__all__ = [
    "CSV_HEADER",
    "PICTURE_SUFFIXES",
    "BatchInput",
    "BatchPrice",
    "Material",
    "OperatorFolder",
    "Playground",
    "SentFiles",
    "batch_price",
    "check_count",
    "content_hash",
    "parse_csv",
    "read_csv",
    "rows_from_pictures",
    "rows_from_records",
    "rows_from_zip",
    "rows_hash",
    "sent_name",
]

#: The pictures a zip may hold (other files in it are skipped).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: The most rows one batch may have.
MAX_ROWS = 500
#: The largest CSV read, and the longest line in it (a prompt is at most 2,000 characters).
MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024
#: The CSV's columns, a request's fields; the options (size, duration) may be left out or empty.
COLUMNS = tuple(field.name for field in FIELDS)
#: The CSV's header as help spells it: `image,prompt[,size][,duration][,model]`.
CSV_HEADER = ",".join(f.name for f in FIELDS if f not in OPTIONS) + "".join(f"[,{f.name}]" for f in OPTIONS)
#: The answer to a CSV cell that names no picture the visitor sent (the same whatever it names).
NOT_SENT = "the image must be an http(s) URL, a data URI, or the name of a picture you sent with the CSV."
_T = TypeVar("_T")


class Playground(Protocol):
    """What batches need of `_service.Playground` (named here so that neither module imports the other)."""

    settings: Settings
    journal: Journal
    spend: SpendGuard

    def backend_for(self, user_key: ApiKey | None) -> tuple[Any, ApiKey | None]: ...

    def backend_of(self, record: TaskRecord) -> Any: ...

    def pays_owner(self, user_key: ApiKey | None) -> bool: ...

    async def start(self, request: GenerationRequest, caller: Caller, *, count: int = 1) -> list[Job]: ...


@dataclass(frozen=True, slots=True)
class BatchInput:
    """One row of a batch, checked: a picture (a file or a URL), a prompt, a size, a duration and a model.

    A local file is read only through `picture` (a `Picture`); `image` is its text, kept and shown.
    """

    image: str
    prompt: str
    size: str = Size.LANDSCAPE.value
    duration: int = 5
    model: str = MODEL_ID
    picture: Picture | None = field(default=None, compare=False)

    @classmethod
    def recorded(cls, image: str, prompt: str, size: str, duration: int, model: str = MODEL_ID) -> BatchInput:
        """A row read back from the batch store, checked when the batch was made."""
        local = not (is_url(image) or is_data_uri(image))
        return cls(image, prompt, size, duration, model, Picture.recorded(image) if local else None)

    def request(self) -> GenerationRequest:
        options = {field.name: getattr(self, field.name) for field in OPTIONS}
        return GenerationRequest.create(self.picture or self.image, self.prompt, **options)

    @property
    def blocks(self) -> int:
        """How many 5 s blocks the row is billed for."""
        return max(1, -(-self.duration // 5))


class Material(Protocol):
    """Where a CSV's picture names resolve: the files the visitor sent, or the operator's folder."""

    def picture(self, name: str) -> Picture: ...


@dataclass
class SentFiles:
    """The pictures a visitor sent with a CSV (their uploads, their zip's pictures), by name.

    A cell resolves only among these, by its file name; the server's disk is never consulted.
    """

    files: dict[str, Picture] = field(default_factory=dict)

    def add(self, name: str, picture: Picture) -> None:
        self.files.setdefault(PurePosixPath(name.replace("\\", "/")).name, picture)

    def picture(self, name: str) -> Picture:
        path = PurePosixPath(name.replace("\\", "/"))
        found = None if path.is_absolute() or ".." in path.parts else self.files.get(path.name)
        if found is None:
            raise InvalidRequest(NOT_SENT, field="image")
        return found


@dataclass(frozen=True)
class OperatorFolder:
    """The operator's own folder (the command line): a relative name resolves against it."""

    folder: Path

    def picture(self, name: str) -> Picture:
        return Picture.from_operator_file(self.folder / Path(name).expanduser())


def _checked(
    image: str | Picture,
    prompt: str,
    given: Mapping[str, object],
    where: str,
    defaults: Mapping[str, object] | None = None,
) -> BatchInput:
    """A row from its picture, prompt and `given` options (by field name; empty ones take `defaults`,
    else the field's default).
    """
    defaults = defaults or {}
    options = {
        field.name: given.get(field.name) or defaults.get(field.name) or field.default for field in OPTIONS
    }
    try:
        if not isinstance(image, Picture) and image.strip() and not (is_url(image) or is_data_uri(image)):
            raise InvalidRequest(NOT_SENT, field="image")
        request = GenerationRequest.create(image, prompt, **options)
    except InvalidRequest as error:
        raise InvalidRequest(f"{where}: {error.message}", field=error.field) from None
    text = str(image.path) if isinstance(image, Picture) else request.image
    picture = image if isinstance(image, Picture) else None
    return BatchInput(text, request.prompt, request.size.value, int(request.duration), request.model, picture)


def check_count(count: int) -> None:
    """Refuse a batch with no rows, or with more than `MAX_ROWS`."""
    if count == 0:
        raise InvalidRequest("The batch has no rows.", field="rows")
    if count > MAX_ROWS:
        raise InvalidRequest(f"A batch holds at most {MAX_ROWS} rows, not {count}.", field="rows")


def read_csv(
    path: Path, material: Material, defaults: Mapping[str, object] | None = None
) -> tuple[list[BatchInput], str]:
    """The rows of a CSV file (see `parse_csv`), read as a stream, and the hash of its bytes.

    Nothing past the bounds is read: the file's size, each line's length and the rows are capped.
    """
    if path.stat().st_size > MAX_CSV_BYTES:
        raise InvalidRequest(
            f"The CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; a batch of "
            f"{MAX_ROWS} rows fits in far less.",
            field="rows",
        )
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
        return parse_csv(_capped_lines(text), material, defaults), digest.hexdigest()


def _capped_lines(text: TextIO) -> Iterator[str]:
    """The lines of `text`, none read whole past `MAX_FIELD_CHARS` characters."""
    number = 0
    while line := text.readline(MAX_FIELD_CHARS + 1):
        number += 1
        if len(line) > MAX_FIELD_CHARS:
            raise InvalidRequest(
                f"Line {number} of the CSV is longer than {MAX_FIELD_CHARS:,} characters.", field="rows"
            )
        yield line


def parse_csv(
    text: str | Iterable[str], material: Material, defaults: Mapping[str, object] | None = None
) -> list[BatchInput]:
    """The rows of a CSV with a header `CSV_HEADER`; file names resolve in `material`.

    `text` is the CSV or its lines; reading stops at the first row past `MAX_ROWS`. A cell left
    out or empty takes `defaults` (by field name, such as the page's model), else the field's default.
    """
    lines = io.StringIO(text.lstrip("\ufeff")) if isinstance(text, str) else text
    reader = csv.DictReader(lines)
    header = [name.strip().lower() for name in _read(reader, lambda: reader.fieldnames) or []]
    if "image" not in header or "prompt" not in header:
        raise InvalidRequest(
            "The CSV needs a header line with at least the columns image and prompt "
            f"({' and '.join(f.name for f in OPTIONS)} are optional).",
            field="rows",
        )
    reader.fieldnames = header
    rows = []
    for line, raw in enumerate(_records(reader), start=2):
        values = {name: (raw.get(name) or "").strip() for name in COLUMNS}
        if not any(values.values()):
            continue  # a blank line
        rows.append(
            _checked(
                _cell_picture(values["image"], material, f"Line {line}"),
                values["prompt"],
                values,
                f"Line {line}",
                defaults,
            )
        )
        if len(rows) > MAX_ROWS:
            raise InvalidRequest(f"A batch holds at most {MAX_ROWS} rows; the CSV has more.", field="rows")
    check_count(len(rows))
    return rows


def _cell_picture(image: str, material: Material, where: str) -> str | Picture:
    """A CSV cell's picture: a URL or data URI as written, else a name resolved in `material`."""
    if not image or is_url(image) or is_data_uri(image):
        return image
    try:
        return material.picture(image)
    except InvalidRequest as error:
        message = error.message[:1].lower() + error.message[1:]
        raise InvalidRequest(f"{where}: {message}", field="image") from None


def _records(reader: csv.DictReader[str]) -> Iterator[dict[str, Any]]:
    """The reader's records, a malformed one refused with one sentence naming its line."""
    while True:
        record = _read(reader, lambda: next(reader, None))
        if record is None:
            return
        yield record


def _read(reader: csv.DictReader[str], step: Callable[[], _T]) -> _T:
    try:
        return step()
    except csv.Error as error:
        line = reader.line_num
        if "field larger than field limit" in str(error):
            raise InvalidRequest(
                f"Line {line} of the CSV has a field longer than {csv.field_size_limit():,} characters.",
                field="rows",
            ) from None
        raise InvalidRequest(f"Line {line} of the CSV cannot be read: {error}.", field="rows") from None


def rows_from_records(records: Sequence[Mapping[str, object]]) -> list[BatchInput]:
    """Rows from plain mappings (the API's): `image` (a `Picture`, a URL or a data URI), `prompt`, ..."""
    check_count(len(records))
    return [
        _checked(_record_picture(record.get("image")), str(record.get("prompt") or ""), record, f"Row {n}")
        for n, record in enumerate(records, start=1)
    ]


def _record_picture(image: object) -> str | Picture:
    return image if isinstance(image, Picture) else str(image or "")


def rows_from_pictures(pictures: Iterable[Picture], prompt: str, **options: object) -> list[BatchInput]:
    """One row per picture, all with the same prompt and options (size, duration; else the defaults)."""
    rows = [_checked(picture, prompt, options, picture.path.name or "A picture") for picture in pictures]
    check_count(len(rows))
    return rows


def rows_from_zip(archive: Path, prompt: str, dest_dir: Path, **options: object) -> list[BatchInput]:
    """One row per picture in a zip, in name order, extracted within bounds (`bounded_zip`) to a
    folder of its own under `dest_dir`, which is removed again when a row is refused.
    """
    pictures = extract_pictures(archive, dest_dir, _is_picture, max_pictures=MAX_ROWS)
    try:
        return rows_from_pictures(
            [Picture.within(path, [path.parent]) for path in pictures], prompt, **options
        )
    except BaseException:
        remove_folders(extraction_folders(map(str, pictures), dest_dir))
        raise


def sent_name(extracted: Path) -> str:
    """The name a picture had in its zip (`extract_pictures` numbers each file: NNN-name)."""
    return extracted.name.split("-", 1)[-1]


def _is_picture(name: str) -> bool:
    base = Path(name).name
    return not base.startswith(".") and "__MACOSX" not in name and base.lower().endswith(PICTURE_SUFFIXES)


def content_hash(data: bytes) -> str:
    """The hex SHA-256 of a batch's source (a CSV's bytes): the same file finds the same batch."""
    return hashlib.sha256(data).hexdigest()


def rows_hash(rows: Sequence[BatchInput]) -> str:
    """One hash of the rows' pictures (their bytes when local), prompts, sizes and durations."""
    lines = []
    for row in rows:
        picture = Path(row.image)
        image = (
            content_hash(picture.read_bytes()) if "://" not in row.image and picture.is_file() else row.image
        )
        lines.append(f"{image}\t{row.prompt}\t{row.size}\t{row.duration}\t{row.model}")
    return content_hash("\n".join(lines).encode())


@dataclass(frozen=True, slots=True)
class BatchPrice:
    """What a batch will cost: the total and the price per 5 s block, from the route or estimated."""

    rows: int
    blocks: int
    total: float
    unit_price: float
    simulated: bool = False
    #: Why the pricing route gave no price: the figures are then the fallback's estimate.
    problem: str | None = None

    @property
    def estimated(self) -> bool:
        return self.problem is not None

    def describe(self) -> str:
        """One line: "12 videos, 12 x 5 s at 0.50 USD = 6.00 USD (simulated)"."""
        videos = f"{self.rows} video{'s' if self.rows != 1 else ''}"
        notes = ["simulated"] if self.simulated else []
        if self.problem is not None:
            notes.append(f"estimated, the pricing route gave no price: {self.problem.rstrip('.')}")
        line = f"{videos}, {self.blocks} x 5 s at {self.unit_price:.2f} USD = {self.total:.2f} USD"
        return line + (f" ({'; '.join(notes)})" if notes else "")


async def batch_price(
    playground: Playground, user_key: ApiKey | None, rows: Sequence[BatchInput]
) -> BatchPrice:
    """The total of a batch from the pricing route (asked once per size and model).

    When the route fails, each size is priced as a single start reserves it
    (`SpendGuard.unit_price`: the route's last answer, else the contract's), and the reason is kept.
    """
    backend, key = playground.backend_for(user_key)
    sizes = sorted({(row.size, row.model) for row in rows})

    async def unit(size: str, model: str) -> dict[str, Any]:
        return await backend.client.price({"size": size, "duration": 5}, api_key=key, model=model)

    problem = None
    try:
        answers = await asyncio.wait_for(asyncio.gather(*(unit(*kind) for kind in sizes)), 10.0)
    except (LumaPlaygroundError, TimeoutError) as error:
        problem = error.message if isinstance(error, LumaPlaygroundError) else "no answer in time"
        answers = [{} for _ in sizes]
    asked = dict(zip(sizes, (_price_of(answer) for answer in answers), strict=True))
    if problem is None and any(price is None for price in asked.values()):
        problem = "the answer had no price"
    if problem is None and not backend.simulated:  # a single start reserves what was shown
        for (size, model), price in asked.items():
            playground.spend.note_price(size, price or 0.0, model)
    prices = {kind: playground.spend.unit_price(*kind) if problem else asked[kind] or 0.0 for kind in sizes}
    total = sum(prices[row.size, row.model] * row.blocks for row in rows)
    simulated = backend.simulated or any(bool(answer.get("simulated")) for answer in answers)
    blocks = sum(row.blocks for row in rows)
    return BatchPrice(len(rows), blocks, round(total, 4), max(prices.values()), simulated, problem)


def _price_of(answer: dict[str, Any]) -> float | None:
    for name in ("unit_price", "price"):
        value = answer.get(name)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
