"""Each request field is defined once (`_request.FIELDS`): every face takes it from there or matches it."""

from __future__ import annotations

import inspect
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_type_hints

import gradio as gr
import pytest
import typer

from luma_playground import GenerationRequest, InvalidRequest, Size
from luma_playground._features.batch_input import COLUMNS, CSV_HEADER, OperatorFolder, parse_csv
from luma_playground._features.settings_file import SavedSettings, checked_settings, settings_of
from luma_playground._journal.journal import Journal, NewTask
from luma_playground._request import DURATION, FIELDS, MODEL, OPTIONS, PROMPT, SETTINGS, SIZE, RequestField
from luma_playground.api.batches import BatchApi
from luma_playground.api.shots import ShotsApi
from luma_playground.api.tasks import PublicApi
from luma_playground.cli import app
from luma_playground.simulator import _validation
from luma_playground.ui import _batch_tab, _layout, _shots_panel

NAMES = [field.name for field in FIELDS]
#: Every public endpoint, as Gradio and MCP read them (their hints and docstrings).
ENDPOINTS: list[Callable[..., Any]] = [
    *(getattr(PublicApi, name) for name in ("generate", "price", "enhance_prompt", "get_task", "history")),
    PublicApi.cancel,
    ShotsApi.extend,
    ShotsApi.export,
    *(getattr(BatchApi, name) for name in ("batch_price", "batch", "get_batch", "cancel_batch")),
]


def _option(name: str) -> RequestField[Any]:
    return next(field for field in OPTIONS if field.name == name)


def _spelled(value: object) -> str:
    """A value as a docstring writes it: strings quoted, numbers bare."""
    return f'"{value}"' if isinstance(value, str) else str(value)


def test_the_request_model_is_the_fields() -> None:
    """The request's model has the fields in their order, with their choices and defaults."""
    assert list(GenerationRequest.model_fields) == NAMES
    assert tuple(Size) == SIZE.values and Size(SIZE.default) is Size.LANDSCAPE
    assert get_args(GenerationRequest.model_fields["duration"].annotation) == DURATION.values
    create = inspect.signature(GenerationRequest.create).parameters
    options = {n: p.default for n, p in create.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert options == {field.name: field.default for field in OPTIONS}
    request = GenerationRequest.create("https://example.com/a.png", "p")
    assert all(getattr(request, field.name) == field.default for field in OPTIONS)
    # The submit's body carries fields only (a field may travel elsewhere: the model is the route).
    assert set(request.api_input("u")) <= set(NAMES)


@pytest.mark.parametrize("field", OPTIONS, ids=lambda field: field.name)
def test_a_value_outside_the_choices_is_refused_in_the_fields_words(field: RequestField[Any]) -> None:
    """A value the field does not offer is refused, naming the field."""
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.create("https://example.com/a.png", "p", **{field.name: "none of these"})
    assert caught.value.field == field.name


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda function: function.__name__)
def test_the_api_and_mcp_signatures_match_the_fields(endpoint: Callable[..., Any]) -> None:
    """Each endpoint's field arguments list the field's choices and default, and its docstring names them."""
    hints = get_type_hints(endpoint, include_extras=True)
    doc = inspect.getdoc(endpoint) or ""
    for name, parameter in inspect.signature(endpoint).parameters.items():
        if name not in {field.name for field in OPTIONS}:
            continue
        field = _option(name)
        assert get_args(hints[name]) == field.values, name
        assert parameter.default == field.default, name
        [line] = re.findall(rf"^\s+{name}: (.+)$", doc, flags=re.MULTILINE)
        assert all(_spelled(value) in line for value in field.values), line


def test_the_endpoints_that_start_or_price_work_take_the_fields() -> None:
    """`generate` takes every field, in order, and `price` every option."""
    assert list(inspect.signature(PublicApi.generate).parameters)[1 : 1 + len(NAMES)] == NAMES
    assert {field.name for field in OPTIONS} <= set(inspect.signature(PublicApi.price).parameters)


def test_the_batch_rows_are_described_with_the_fields() -> None:
    """The batch endpoint's rows name every field, and each option's choices."""
    doc = inspect.getdoc(BatchApi.batch) or ""
    rows = doc.split("rows:", 1)[1].split("Returns:", 1)[0]
    assert all(f'"{name}"' in rows for name in NAMES)
    assert all(_spelled(value) in rows for field in OPTIONS for value in field.values)


def test_the_simulator_checks_the_same_choices() -> None:
    """The simulator takes what WaveSpeed takes, written apart from the client: the same choices."""
    assert SIZE.values == _validation.SIZES and SIZE.default == _validation.DEFAULT_SIZE
    assert DURATION.values == _validation.DURATIONS and DURATION.default == _validation.DEFAULT_DURATION
    assert MODEL.values == _validation.VIDEO_MODELS and MODEL.default == _validation.VIDEO_MODEL
    body = GenerationRequest.create("https://example.com/a.png", "p").api_input("u")
    assert set(body) <= set(_validation.VideoInput.__dataclass_fields__)


def test_the_journal_keeps_every_field(tmp_path: Path) -> None:
    """A task's row and a batch's row have a column for each field; a new task records each."""
    Journal(tmp_path / "journal.db").close()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        for table in ("tasks", "batch_rows"):
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            assert set(NAMES) <= columns, table
    assert set(NAMES) <= set(NewTask.__annotations__)


def test_a_saved_file_carries_every_setting(tmp_path: Path) -> None:
    """The file's metadata holds each field but the picture, and reads back as the form takes it."""
    journal = Journal(tmp_path / "journal.db")
    try:
        values = {"prompt": "a slow pan", "size": "720*1280", "duration": 10, "image": "/a/picture.png"}
        row_id = journal.begin(
            model="luma/ray-2-i2v",
            backend="simulator",
            base_url="http://127.0.0.1:1",
            owner="local",
            key_fingerprint="",
            image_url=None,
            **values,  # type: ignore[typeddict-item]
        )
        record = journal.get(row_id)
        assert record is not None
        tags = settings_of(record, "t1")
    finally:
        journal.close()
    assert [name for name in tags if name in NAMES] == [field.name for field in SETTINGS]
    assert "image" not in tags and tags["duration"] == "10"
    assert {field.name for field in SETTINGS} <= set(SavedSettings.__dataclass_fields__)
    assert checked_settings(tags) == SavedSettings("a slow pan", Size.PORTRAIT, 10, "luma/ray-2-i2v")


@pytest.mark.parametrize("field", OPTIONS, ids=lambda field: field.name)
def test_a_files_setting_outside_the_choices_is_named(field: RequestField[Any]) -> None:
    """A file whose setting is not one of the field's choices is refused in the field's words."""
    with pytest.raises(InvalidRequest) as caught:
        checked_settings({"prompt": "a cat", field.name: "7"})
    assert caught.value.field == field.name and field.spelled() in caught.value.message


def test_the_csv_columns_are_the_fields(tmp_path: Path) -> None:
    """A batch CSV's columns are the fields; an option's column may be left out or empty."""
    assert tuple(NAMES) == COLUMNS and CSV_HEADER == "image,prompt[,size][,duration][,model]"
    text = "image,prompt,size,duration,model\nhttps://example.com/a.png,a cat,720*1280,10,flash\n"
    text += "https://example.com/b.png,a dog,,,\n"
    portrait, plain = parse_csv(text, OperatorFolder(tmp_path))
    assert (portrait.size, portrait.duration, portrait.model) == ("720*1280", 10, "luma/ray-2-flash-i2v")
    assert (plain.size, plain.duration, plain.model) == (SIZE.default, DURATION.default, MODEL.default)
    assert portrait.request().size is Size.PORTRAIT


def _params(command: str) -> dict[str, Any]:
    """A command's arguments and options by name, as typer builds them."""
    group: Any = typer.main.get_command(app)
    return {param.name: param for param in group.commands[command].params}


@pytest.mark.parametrize(("command", "names"), [("generate", NAMES), ("price", [f.name for f in OPTIONS])])
def test_the_cli_options_come_from_the_fields(command: str, names: list[str]) -> None:
    """The commands that take a request have its fields, with the fields' help and defaults."""
    params = _params(command)
    assert set(names) <= set(params)
    for field in OPTIONS:
        assert params[field.name].default == str(field.default)
        assert params[field.name].help.startswith(f"{field.spelled(notes=True)}.")
    if "prompt" in names:
        assert params["prompt"].help == PROMPT.help
    assert _params("extend")["duration"].help == f"{DURATION.spelled()} per segment."


def test_the_page_controls_come_from_the_fields() -> None:
    """The form's, the Batch tab's and the Extend panel's radios offer the fields' choices and defaults."""
    with gr.Blocks():
        page = _layout.build_layout("", key_panel_open=False)
    assert isinstance(page.batch, _batch_tab.BatchParts) and isinstance(page.shots, _shots_panel.ShotParts)
    radios = [
        (page.form.size, SIZE, False),
        (page.form.duration, DURATION, False),
        (page.form.model, MODEL, False),
        (page.batch.size, SIZE, True),
        (page.batch.duration, DURATION, True),
        (page.shots.duration, DURATION, True),
    ]
    for radio, field, short in radios:
        assert [tuple(choice) for choice in radio.choices] == field.radio(short=short)
        assert radio.value == field.default
    assert (page.form.size.label, page.form.duration.label) == (SIZE.label, DURATION.label)
    assert page.form.prompt.label == PROMPT.label
    assert page.form.request == [getattr(page.form, name) for name in NAMES]
