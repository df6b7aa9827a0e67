"""docs/protocol.md documents everything boards/protocol.py defines, and its examples are valid.

The lists are derived from ``boards.protocol`` so that a new message type,
command, event, error code or close code fails here until it is documented.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from boards import protocol as p
from boards.engine import item_to_wire

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def _doc() -> str:
    assert DOC_PATH.is_file(), f"{DOC_PATH} is missing"
    return DOC_PATH.read_text(encoding="utf-8")


def _constants(cls: type) -> dict[str, Any]:
    return {name: value for name, value in vars(cls).items() if name.isupper() and not name.startswith("_")}


CLIENT_TAGS = [p.tag_of(c) for c in p.CLIENT_MESSAGE_TYPES]
SERVER_TAGS = [p.tag_of(c) for c in p.SERVER_MESSAGE_TYPES]
COMMAND_TAGS = [p.tag_of(c) for c in p.COMMAND_TYPES]
EVENT_TAGS = list(p.EVENT_TYPES)
ERROR_CODES = sorted(_constants(p.ErrorCode).values())
CLOSE_CODES = sorted(_constants(p.CloseCode).items(), key=lambda kv: kv[1])


def _headings(doc: str) -> list[str]:
    return [line for line in doc.splitlines() if line.startswith("#")]


def _section(doc: str, title: str) -> str:
    """The text under the level-2 heading that contains ``title``, up to the next level-2 heading."""
    match = re.search(rf"^## [^\n]*{re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", doc, flags=re.M | re.S)
    assert match, f"docs/protocol.md has no section titled {title!r}"
    return match.group(1)


def _table_rows(doc: str) -> list[list[str]]:
    rows = []
    for line in doc.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_lists_are_derived_from_the_protocol_module() -> None:
    # Guards the derivation itself: an empty list would make every check below vacuous.
    assert "hello" in CLIENT_TAGS and "welcome" in SERVER_TAGS
    assert "item.create" in COMMAND_TAGS and "item.created" in EVENT_TAGS
    assert "bad_json" in ERROR_CODES and ("UNSUPPORTED_VERSION", 4426) in CLOSE_CODES
    assert len(CLIENT_TAGS) == len(p.CLIENT_MESSAGE_TYPES) and len(COMMAND_TAGS) == len(p.COMMAND_TYPES)


@pytest.mark.parametrize("tag", CLIENT_TAGS + SERVER_TAGS)
def test_every_message_type_has_its_own_section(tag: str) -> None:
    assert any(f"`{tag}`" in h for h in _headings(_doc())), f"no heading documents the message type `{tag}`"


@pytest.mark.parametrize("tag", COMMAND_TAGS)
def test_every_command_type_has_its_own_section(tag: str) -> None:
    assert any(f"`{tag}`" in h for h in _headings(_doc())), f"no heading documents the command `{tag}`"


@pytest.mark.parametrize("tag", EVENT_TAGS)
def test_every_event_type_is_in_the_event_table(tag: str) -> None:
    rows = _table_rows(_section(_doc(), "Events"))
    assert any(row[0] == f"`{tag}`" and len(row) > 1 and row[1] for row in rows), f"the event `{tag}` has no table row"


@pytest.mark.parametrize("code", ERROR_CODES)
def test_every_error_code_is_in_the_error_table(code: str) -> None:
    rows = _table_rows(_section(_doc(), "Error codes"))
    assert any(row[0] == f"`{code}`" and len(row) > 1 and row[1] for row in rows), f"error code `{code}` is missing"


@pytest.mark.parametrize(("name", "number"), CLOSE_CODES, ids=[n for n, _ in CLOSE_CODES])
def test_every_close_code_is_in_the_close_table(name: str, number: int) -> None:
    rows = _table_rows(_section(_doc(), "Close codes"))
    assert any(row[:2] == [str(number), f"`{name}`"] and len(row) > 2 and row[2] for row in rows), (
        f"close code {number} {name} is missing from the close code table"
    )


def test_protocol_version_is_stated() -> None:
    doc = _doc()
    assert f"PROTOCOL_VERSION = {p.PROTOCOL_VERSION}" in doc
    assert f'"v": {p.PROTOCOL_VERSION}' in doc


def test_message_size_limit_is_stated() -> None:
    assert p.MAX_MESSAGE_BYTES == 64 * 1024
    doc = _doc()
    assert "64 KiB" in doc and str(p.MAX_MESSAGE_BYTES) in doc.replace("\u202f", "").replace(" ", "")


def _major(doc: str, number: int) -> str:
    match = re.search(rf"^## {number}\. [^\n]*\n(.*?)(?=^## |\Z)", doc, flags=re.M | re.S)
    assert match, f"docs/protocol.md has no section {number}"
    return match.group(1)


def _subsection(text: str, tag: str) -> str:
    """The text under the level-3 heading that names ``tag``, up to the next heading."""
    match = re.search(rf"^### [^\n]*`{re.escape(tag)}`[^\n]*\n(.*?)(?=^##|\Z)", text, flags=re.M | re.S)
    assert match, f"no section documents `{tag}`"
    return match.group(1)


#: Where each message's fields must be named: its own section (a field named anywhere else in the
#: document, e.g. an ``id`` of another message, does not document it).
FIELD_SECTIONS: list[tuple[type[msgspec.Struct], int, str | None]] = [
    *((c, 4, p.tag_of(c)) for c in p.CLIENT_MESSAGE_TYPES),
    *((c, 5, p.tag_of(c)) for c in p.SERVER_MESSAGE_TYPES),
    *((c, 6, p.tag_of(c)) for c in p.COMMAND_TYPES),
    (p.Event, 7, None),
    (p.Replaced, 5, "ack"),
    (p.PresenceEntry, 5, "presence"),
]


@pytest.mark.parametrize(("struct", "number", "tag"), FIELD_SECTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_field_of_every_message_is_named_in_its_own_section(
    struct: type[msgspec.Struct], number: int, tag: str | None
) -> None:
    section = _major(_doc(), number)
    if tag is not None:
        section = _subsection(section, tag)
    missing = [f for f in struct.__struct_fields__ if f"`{f}`" not in section and f'"{f}"' not in section]
    assert not missing, f"{struct.__name__}: fields not documented in its section: {missing}"


def test_the_field_check_reads_the_messages_own_section() -> None:
    doc = "## 5. Server\n### `ack`\nThe `seq`.\n### `error`\nThe `code`.\n## 6. Commands\n"
    assert "`code`" not in _subsection(_major(doc, 5), "ack")
    assert "`seq`" in _subsection(_major(doc, 5), "ack")


def test_every_item_wire_field_is_in_the_item_table() -> None:
    item = SimpleNamespace(
        id="x" * 8,
        type="card",
        parent_id=None,
        stage_id=None,
        lane_id=None,
        order_key="V",
        fields={},
        author_id=None,
        version=1,
        updated_seq=0,
        deleted_seq=None,
    )
    first_cells = [row[0] for row in _table_rows(_section(_doc(), "Items"))]
    missing = [k for k in item_to_wire(item) if not any(f"`{k}`" in cell for cell in first_cells)]
    assert not missing, f"item fields missing from the item table: {missing}"


def test_welcome_limits_are_documented(tmp_path: Path) -> None:
    from foundation.settings import load_settings
    from server.ws.endpoint import _limits

    settings = load_settings({"KUMPPANI_DATA_DIR": str(tmp_path), "KUMPPANI_SECRET_KEY": "k" * 40})
    doc = _doc()
    missing = [k for k in _limits(SimpleNamespace(settings=settings)) if f"`{k}`" not in doc]  # type: ignore[arg-type]
    assert not missing, f"welcome.limits keys not documented: {missing}"


# ---------------------------------------------------------------- examples


def _json_examples(doc: str) -> list[dict[str, Any]]:
    """Every JSON object in the ```json blocks (a block may hold several objects)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", doc, flags=re.S):
        index = 0
        while True:
            while index < len(block) and block[index].isspace():
                index += 1
            if index >= len(block):
                break
            obj, index = decoder.raw_decode(block, index)
            found.append(obj)
    return found


def test_json_examples_are_valid_frames() -> None:
    examples = _json_examples(_doc())
    assert len(examples) > 30
    seen: set[str] = set()
    for obj in examples:
        raw = json.dumps(obj)
        if "t" in obj:
            # ``presence`` is a tag in both directions: the example must be valid in one of them.
            assert obj["t"] in CLIENT_TAGS + SERVER_TAGS, f"unknown message type in an example: {raw[:120]}"
            if obj["t"] in CLIENT_TAGS and _decodes(p.decode_client, raw):
                seen.add(f"client:{obj['t']}")
            else:
                p.decode_server(raw)
                seen.add(f"server:{obj['t']}")
        elif obj.get("type") in COMMAND_TAGS:
            p.decode_client(json.dumps({"t": "op", "id": "example", "op": obj}))
            seen.add(obj["type"])
        elif "seq" in obj and obj.get("type") in EVENT_TAGS:
            msgspec.convert(obj, p.Event)
            seen.add(obj["type"])
        else:
            pytest.fail(f"an example is neither a frame, a command nor an event: {raw[:120]}")
    wanted = {f"client:{t}" for t in CLIENT_TAGS} | {f"server:{t}" for t in SERVER_TAGS} | set(COMMAND_TAGS)
    undocumented = wanted - seen
    assert not undocumented, f"no JSON example for: {sorted(undocumented)}"


def _decodes(decode: Any, raw: str) -> bool:
    try:
        decode(raw)
    except (p.ProtocolError, msgspec.ValidationError):
        return False
    return True
