"""The websocket wire contract: one definition for the server and the Python client.

Every frame is a UTF-8 JSON object with a tag ``t``. Commands inside an ``op``
frame have a tag ``type`` (``noun.verb``); events in an ``ops`` frame are past
tense (``item.created``). ``docs/protocol.md`` mirrors this module and a test
fails when a message type here is not documented there.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
MAX_MESSAGE_BYTES = 64 * 1024

ItemId = Annotated[str, Meta(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_OP_ID_CHARS = 64
OpId = Annotated[str, Meta(min_length=1, max_length=MAX_OP_ID_CHARS)]
Seq = Annotated[int, Meta(ge=0)]
Emoji = Annotated[str, Meta(min_length=1, max_length=16)]
Fields = Annotated[dict[str, Any], Meta(max_length=32)]


class CloseCode:
    """Close codes in the 4000 range mirror HTTP statuses where one fits."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_BIG = 1009
    PROTOCOL_ABUSE = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    HELLO_TIMEOUT = 4408
    TOO_MANY_CONNECTIONS = 4409
    UNSUPPORTED_VERSION = 4426
    RATE_ABUSE = 4429
    SERVER_RESTART = 4503


class ErrorCode:
    BAD_JSON = "bad_json"
    BINARY_FRAME = "binary_frame"
    UNKNOWN_TYPE = "unknown_type"
    BAD_MESSAGE = "bad_message"
    TOO_LARGE = "too_large"
    NOT_READY = "not_ready"
    NOT_FOUND = "not_found"
    WRONG_BOARD = "wrong_board"
    ID_TAKEN = "id_taken"
    FORBIDDEN = "forbidden"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    BOARD_FULL = "board_full"
    TEXT_TOO_LONG = "text_too_long"
    IDENTITY_CODE = "identity_code"
    BAD_FIELD = "bad_field"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    BAD_PLACE = "bad_place"
    NOT_YOURS = "not_yours"
    CANNOT_UNDO = "cannot_undo"
    VOTE_BUDGET = "vote_budget"
    DELETED = "deleted"
    INTERNAL = "internal"
    UNSUPPORTED_VERSION = "unsupported_version"


# ---------------------------------------------------------------- commands (inside "op")


class Command(Struct, tag_field="type", forbid_unknown_fields=True, omit_defaults=True):
    pass


class ItemCreate(Command, tag="item.create"):
    id: ItemId
    item_type: str
    fields: Fields = {}
    stage: ItemId | None = None
    lane: ItemId | None = None
    parent: ItemId | None = None
    after: ItemId | None = None
    before: ItemId | None = None


class ItemUpdate(Command, tag="item.update"):
    id: ItemId
    fields: Fields
    base: Seq | None = None


class ItemMove(Command, tag="item.move"):
    id: ItemId
    stage: ItemId | None = None
    lane: ItemId | None = None
    after: ItemId | None = None
    before: ItemId | None = None


class ItemDelete(Command, tag="item.delete"):
    id: ItemId


class ItemRestore(Command, tag="item.restore"):
    id: ItemId


class VoteAdd(Command, tag="vote.add"):
    id: ItemId


class VoteRemove(Command, tag="vote.remove"):
    id: ItemId


class ReactionAdd(Command, tag="reaction.add"):
    id: ItemId
    emoji: Emoji


class ReactionRemove(Command, tag="reaction.remove"):
    id: ItemId
    emoji: Emoji


class Undo(Command, tag="undo"):
    seq: Seq


class Redo(Command, tag="redo"):
    seq: Seq


class BoardSet(Command, tag="board.set"):
    """Rename (editors); lock, reveal votes, run a timer (facilitators). ``timer_seconds`` 0 stops it."""

    title: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    locked: bool | None = None
    votes_revealed: bool | None = None
    timer_seconds: Annotated[int, Meta(ge=0, le=4 * 3600)] | None = None


AnyCommand = (
    ItemCreate
    | ItemUpdate
    | ItemMove
    | ItemDelete
    | ItemRestore
    | VoteAdd
    | VoteRemove
    | ReactionAdd
    | ReactionRemove
    | Undo
    | Redo
    | BoardSet
)
COMMAND_TYPES: tuple[type[Command], ...] = AnyCommand.__args__  # type: ignore[attr-defined]

# ---------------------------------------------------------------- client -> server


class ClientMessage(Struct, tag_field="t", forbid_unknown_fields=True, omit_defaults=True):
    pass


class Hello(ClientMessage, tag="hello"):
    v: int
    since: Seq | None = None


class Op(ClientMessage, tag="op"):
    id: OpId
    op: AnyCommand


class Sync(ClientMessage, tag="sync"):
    since: Seq


class PresenceSet(ClientMessage, tag="presence"):
    editing: ItemId | None = None


class Ping(ClientMessage, tag="ping"):
    pass


AnyClientMessage = Hello | Op | Sync | PresenceSet | Ping
CLIENT_MESSAGE_TYPES: tuple[type[ClientMessage], ...] = AnyClientMessage.__args__  # type: ignore[attr-defined]

# ---------------------------------------------------------------- server -> client


class ServerMessage(Struct, tag_field="t", omit_defaults=True):
    pass


class Event(Struct, omit_defaults=True):
    """One accepted operation as everyone sees it, in sequence order."""

    seq: int
    type: str
    actor: str | None
    op: str
    at: str
    data: dict[str, Any]


class Welcome(ServerMessage, tag="welcome"):
    v: int
    board: str
    person: str
    name: str
    seq: int
    limits: dict[str, int]


class Snapshot(ServerMessage, tag="snapshot"):
    seq: int
    board: dict[str, Any]
    items: list[dict[str, Any]]
    votes: dict[str, Any]
    reactions: list[dict[str, Any]]
    authors: dict[str, str | None] = {}


class Ops(ServerMessage, tag="ops"):
    ops: list[Event]


class Synced(ServerMessage, tag="synced"):
    seq: int


class Replaced(Struct):
    field: str
    by: str | None
    seq: int


class Ack(ServerMessage, tag="ack"):
    op: str
    seq: int
    duplicate: bool = False
    replaced: list[Replaced] = []


class Error(ServerMessage, tag="error"):
    code: str
    message: str
    op: str | None = None


class PresenceEntry(Struct, omit_defaults=True):
    person: str
    name: str
    role: str
    editing: str | None = None


class Presence(ServerMessage, tag="presence"):
    people: list[PresenceEntry]


class PresenceChanged(ServerMessage, tag="presence.changed"):
    person: str
    name: str
    role: str
    state: str
    editing: str | None = None


class Resync(ServerMessage, tag="resync"):
    seq: int


class Pong(ServerMessage, tag="pong"):
    pass


class Votes(ServerMessage, tag="votes"):
    """Your own votes on the board, all of them, as of event ``seq``.

    Sent only to the voter's connections (every tab and device): after each of their votes
    while votes are hidden (the event then names no one), and in every catch-up by ``ops``.
    """

    seq: int
    mine: dict[str, int]
    used: int


class DashboardTeam(Struct, omit_defaults=True):
    """One team of a round on the coach's dashboard: counts only, never who."""

    team: str
    name: str
    phase: str
    boards: int
    customers: int
    agreements: int
    open_tests: int
    finished_tests: int
    last_activity: str | None = None
    latest_update: str | None = None


class Dashboard(ServerMessage, tag="dashboard"):
    """On ``/ws/rounds/{round_id}/dashboard``: every team first (``full``), then the teams that changed."""

    round: str
    teams: list[DashboardTeam]
    full: bool = False


class RoundState(ServerMessage, tag="round"):
    """The round's timer and announcement, on every board of the round's teams (no sequence number)."""

    round: str
    timer_ends_at: str | None = None
    timer_paused_seconds: int | None = None
    announcement: str | None = None
    announced_at: str | None = None
    plenary: str | None = None


AnyServerMessage = (
    Welcome
    | Snapshot
    | Ops
    | Synced
    | Ack
    | Error
    | Presence
    | PresenceChanged
    | Resync
    | Pong
    | Votes
    | Dashboard
    | RoundState
)
SERVER_MESSAGE_TYPES: tuple[type[ServerMessage], ...] = AnyServerMessage.__args__  # type: ignore[attr-defined]

EVENT_TYPES = (
    "item.created",
    "item.updated",
    "item.moved",
    "item.deleted",
    "item.restored",
    "vote.changed",
    "reaction.changed",
    "board.changed",
    "author.anonymised",
    "redacted",
)

_client_decoder = msgspec.json.Decoder(AnyClientMessage)
_server_decoder = msgspec.json.Decoder(AnyServerMessage)
_encoder = msgspec.json.Encoder()


class ProtocolError(ValueError):
    """A frame we cannot accept; ``code`` is one of :class:`ErrorCode`.

    ``garbage`` marks a frame that is no message at all (too large, not JSON, JSON that is not
    an object): those count toward the 4400 close. A JSON object the server does not understand
    (an unknown type, a field it does not know, as from a newer client) is answered but not
    counted (docs/protocol.md, section 3).
    """

    def __init__(self, code: str, message: str, *, garbage: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.garbage = garbage


def tag_of(cls: type[Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


_CLIENT_TAGS = frozenset(tag_of(c) for c in CLIENT_MESSAGE_TYPES)
_COMMAND_TAGS = frozenset(tag_of(c) for c in COMMAND_TYPES)


def decode_client(data: bytes | str) -> ClientMessage:
    """Parse and shape-check one client frame, naming what is wrong in plain words."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"The message is too large: at most {MAX_MESSAGE_BYTES} bytes.", garbage=True
        )
    try:
        message: ClientMessage = _client_decoder.decode(raw)
        return message
    except msgspec.ValidationError as exc:
        raise _explain(raw, exc) from None
    except msgspec.DecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "The message is not valid JSON.", garbage=True) from None


def _explain(raw: bytes, exc: msgspec.ValidationError) -> ProtocolError:
    text = str(exc)
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:  # pragma: no cover - it decoded once already
        obj = None
    if isinstance(obj, dict):
        if obj.get("t") not in _CLIENT_TAGS:
            return ProtocolError(ErrorCode.UNKNOWN_TYPE, f"Unknown message type {obj.get('t')!r}.")
        op = obj.get("op")
        if obj.get("t") == "op" and isinstance(op, dict) and op.get("type") not in _COMMAND_TAGS:
            return ProtocolError(ErrorCode.UNKNOWN_TYPE, f"Unknown operation type {op.get('type')!r}.")
    else:
        return ProtocolError(ErrorCode.BAD_MESSAGE, "A message must be a JSON object.", garbage=True)
    return ProtocolError(ErrorCode.BAD_MESSAGE, f"The message is malformed: {text}.")


def decode_server(data: bytes | str) -> ServerMessage:
    message: ServerMessage = _server_decoder.decode(data)
    return message


def encode(message: Struct) -> bytes:
    return _encoder.encode(message)


def op_id_of(raw: bytes | str) -> str | None:
    """Best-effort client op id of a frame we could not parse, so its error can name it."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(obj, dict) and obj.get("t") == "op":
        op_id = obj.get("id")
        # Only an id the client could have sent: a cut one would name an operation it never sent.
        if isinstance(op_id, str) and 1 <= len(op_id) <= MAX_OP_ID_CHARS:
            return op_id
    return None
