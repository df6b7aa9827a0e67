"""Item types and their typed fields.

Each item type names its fields (with a kind and limits) and where it may sit:
structural items (stages, lanes, columns) shape a board; content items sit in a
cell or under a parent. Validation here is the domain's: the wire protocol only
checks shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from auth.hetu import contains_identity_code

FieldKind = Literal["text", "longtext", "int", "bool", "choice", "ref", "emoji", "refs"]
Placement = Literal["board", "cell", "child"]


class FieldError(ValueError):
    """A field value is not allowed; the message is safe to show to the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FieldSpec:
    kind: FieldKind
    max_length: int = 200
    choices: tuple[str, ...] = ()
    minimum: int = -1_000_000
    maximum: int = 1_000_000


@dataclass(frozen=True)
class ItemType:
    name: str
    fields: dict[str, FieldSpec]
    placement: Placement = "cell"
    structural: bool = False
    parents: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)


TEXT = FieldSpec("text", 200)
LONG = FieldSpec("longtext", 4000)
COLOURS = ("yellow", "blue", "green", "pink", "orange", "purple", "grey")
LANE_KINDS = (
    "actions",
    "touchpoints",
    "feelings",
    "pain_points",
    "critical_points",
    "opportunities",
    "notes",
    "front_stage",
    "back_stage",
    "tools",
    "questions",
    "before",
    "now",
    "near_future",
)
TOUCHPOINT_KINDS = ("physical", "digital", "face_to_face", "self_service", "materials")
CRITICAL_KINDS = ("information_transfer", "handover", "waiting", "decision", "other")
SEGMENTS = ("S1", "S2", "S3", "S4")
CORNERSTONES = ("human_encounter", "earning_trust", "proactive_approach")
IDEA_STATUSES = ("idea", "voted", "testing", "adopted", "dropped")
TEST_RESULTS = ("adopt", "adapt", "drop")
TEST_STATUSES = ("planned", "running", "done")
# What participants follow afterwards ("you said, we did"): a fixed vocabulary so that a
# progress update can say it in plain words; "not taken forward" always comes with a reason.
PROGRESS = ("received", "in_progress", "in_practice", "not_taken_forward")
NOT_TAKEN_FORWARD = "not_taken_forward"
PROGRESS_FIELDS = {"progress": FieldSpec("choice", choices=PROGRESS), "progress_reason": FieldSpec("longtext", 1000)}

ITEM_TYPES: dict[str, ItemType] = {
    t.name: t
    for t in (
        ItemType(
            "stage",
            {
                "title": TEXT,
                "description": LONG,
                "emotion": FieldSpec("int", minimum=-2, maximum=2),
                "status": FieldSpec("choice", choices=IDEA_STATUSES),
            },
            placement="board",
            structural=True,
            required=("title",),
        ),
        ItemType(
            "lane",
            {"title": TEXT, "kind": FieldSpec("choice", choices=LANE_KINDS)},
            placement="board",
            structural=True,
            required=("title",),
        ),
        ItemType(
            "card",
            {
                "text": LONG,
                "colour": FieldSpec("choice", choices=COLOURS),
                "touchpoint": FieldSpec("choice", choices=TOUCHPOINT_KINDS),
                "critical": FieldSpec("choice", choices=CRITICAL_KINDS),
                "emotion": FieldSpec("int", minimum=-2, maximum=2),
                "key": FieldSpec("bool"),
            },
        ),
        ItemType("theme", {"title": TEXT, "text": LONG}, placement="board", structural=True, required=("title",)),
        ItemType("finding", {"text": LONG, "key": FieldSpec("bool"), "colour": FieldSpec("choice", choices=COLOURS)}),
        ItemType("question", {"text": LONG}),
        ItemType(
            "persona",
            {
                "name": TEXT,
                "avatar": FieldSpec("emoji", 16),
                "picture": TEXT,
                "life_situation": LONG,
                "problems": LONG,
                "goals": LONG,
                "service_use": LONG,
                "quote": LONG,
                "segment": FieldSpec("choice", choices=SEGMENTS),
            },
            required=("name",),
        ),
        ItemType("picture", {"picture": TEXT, "title": TEXT, "why": LONG}, placement="board", structural=True),
        ItemType(
            "idea",
            {
                "title": TEXT,
                "text": LONG,
                "status": FieldSpec("choice", choices=IDEA_STATUSES),
                "stage_ref": FieldSpec("ref"),
                "finding_ref": FieldSpec("ref"),
                "cornerstone": FieldSpec("choice", choices=CORNERSTONES),
                **PROGRESS_FIELDS,
            },
            required=("title",),
        ),
        ItemType(
            "test",
            {
                "idea_ref": FieldSpec("ref"),
                "hypothesis": LONG,
                "what": LONG,
                "with_whom": LONG,
                "measure": LONG,
                "when": TEXT,
                "status": FieldSpec("choice", choices=TEST_STATUSES),
                "learned": LONG,
                "result": FieldSpec("choice", choices=TEST_RESULTS),
                **PROGRESS_FIELDS,
            },
        ),
        ItemType(
            "comment",
            {"text": FieldSpec("longtext", 2000)},
            placement="child",
            parents=("card", "finding", "question", "persona", "picture", "idea", "test", "stage", "theme"),
            required=("text",),
        ),
    )
}


def _check_text(name: str, value: Any, spec: FieldSpec) -> str:
    if not isinstance(value, str):
        raise FieldError("bad_field", f"The field {name} must be text.")
    if len(value) > spec.max_length:
        raise FieldError("text_too_long", f"The field {name} is too long: at most {spec.max_length} characters.")
    if contains_identity_code(value):
        raise FieldError(
            "identity_code",
            "Remove the personal identity code. Do not write identity codes on the board.",
        )
    return value


def validate_fields(item_type: ItemType, values: dict[str, Any], *, max_text: int) -> dict[str, Any]:
    """Check every value against the type's fields; return a clean copy or raise FieldError."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        spec = item_type.fields.get(name)
        if spec is None:
            raise FieldError("unknown_field", f"A {item_type.name} has no field {name}.")
        if value is None:
            if name in item_type.required:
                raise FieldError("missing_field", f"The field {name} cannot be empty.")
            clean[name] = None
            continue
        if spec.kind in ("text", "longtext", "emoji", "ref"):
            limit = min(spec.max_length, max_text) if spec.kind == "longtext" else spec.max_length
            clean[name] = _check_text(name, value, FieldSpec(spec.kind, limit))
        elif spec.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise FieldError("bad_field", f"The field {name} must be a whole number.")
            if not spec.minimum <= value <= spec.maximum:
                raise FieldError("bad_field", f"The field {name} must be from {spec.minimum} to {spec.maximum}.")
            clean[name] = value
        elif spec.kind == "bool":
            if not isinstance(value, bool):
                raise FieldError("bad_field", f"The field {name} must be true or false.")
            clean[name] = value
        elif spec.kind == "choice":
            if value not in spec.choices:
                raise FieldError("bad_field", f"The field {name} must be one of: {', '.join(spec.choices)}.")
            clean[name] = value
        else:  # pragma: no cover - every kind is handled above
            raise FieldError("bad_field", f"The field {name} cannot be set.")
    if clean.get("progress") == NOT_TAKEN_FORWARD and not (clean.get("progress_reason") or "").strip():
        raise FieldError("missing_field", "Write why this is not taken forward (the field progress_reason).")
    return clean
