"""Hypothesis strategies for the sockets: junk frames, and near-valid messages (one field wrong).

Each annotator frame carries the error codes the contract may answer it with (:class:`Frame`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

from properties.live import MAX_FRAME_BYTES, encode
from properties.strategies import LABELS, bad_ids, clean_text, json_values, not_strings

CLIENT_TYPES = frozenset({"label", "correct", "skip", "resume"})
#: Every type the socket takes: a made-up type is none of these.
KNOWN_TYPES = CLIENT_TYPES | {"recent"}
#: Optional fields some messages take (a label's comment, a skip's reason): never "extra".
OPTIONAL_FIELDS = frozenset({"comment", "reason", "limit"})

HELD = "@held"  # stands for the item the annotator holds; filled in when the frame is sent


@dataclass(frozen=True)
class Frame:
    """A frame for the annotate socket and the error codes it may get (any, when empty)."""

    why: str
    payload: Any  # a JSON value, or str / bytes sent as they are
    codes: frozenset[str] = frozenset()
    raw: bool = False
    #: The label_id an error must carry: that of a well-formed label or correct message.
    label_id: str | None = None

    def render(self, held: str) -> str | bytes:
        if self.raw:
            assert isinstance(self.payload, str | bytes)
            return self.payload
        return encode(_fill(self.payload, held)).decode()


def _fill(value: Any, held: str) -> Any:
    if value == HELD:
        return held
    if isinstance(value, dict):
        return {key: _fill(item, held) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, held) for item in value]
    return value


def _is_client_message(value: Any) -> bool:
    """Whether junk happens to be a message the socket may accept (left to near-valid frames)."""
    return isinstance(value, dict) and str(value.get("type")) in CLIENT_TYPES


def _is_client_frame(raw: str | bytes) -> bool:
    try:
        return _is_client_message(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return False


def _label_message(label_id: str) -> dict[str, Any]:
    return {"type": "label", "item_id": HELD, "label": "bug", "label_id": label_id}


ghost_ids = clean_text.map(lambda rest: f"ghost-{rest}")


def _message(kind: str, label_id: str) -> tuple[dict[str, Any], list[str]]:
    """A valid message of ``kind`` about the held item, and its fields besides ``type``."""
    if kind == "label":
        return _label_message(label_id), ["item_id", "label", "label_id"]
    if kind == "correct":
        message = {"type": "correct", "corrects": "ghost", "label": "bug", "label_id": label_id}
        return message, ["corrects", "label", "label_id"]
    if kind == "skip":
        return {"type": "skip", "item_id": HELD}, ["item_id"]
    return {"type": "resume"}, []


@st.composite
def malformed_messages(draw: st.DrawFn) -> Frame:
    """A label, correct, skip or resume message with a wrong type, or one field wrong."""
    kind = draw(st.sampled_from(sorted(CLIENT_TYPES)))
    message, fields = _message(kind, draw(st.uuids()).hex)
    how = draw(
        st.sampled_from(["type", "extra", "missing", "bad value"] if fields else ["type", "extra"])
    )
    codes = {"invalid_input"}
    if how == "type":
        message["type"] = draw(
            not_strings | st.text(max_size=10).filter(lambda t: t not in KNOWN_TYPES)
        )
        codes = {"unknown_type"}
    elif how == "extra":
        key = draw(
            st.text(min_size=1, max_size=10).filter(
                lambda k: k not in message and k not in OPTIONAL_FIELDS
            )
        )
        message[key] = draw(json_values)
    elif how == "missing":
        del message[draw(st.sampled_from(fields))]
    else:
        field = draw(st.sampled_from(fields))
        message[field] = draw(not_strings if field == "label" else bad_ids)
    return Frame(f"{kind}, {how}", message, frozenset(codes))


@st.composite
def misdirected_messages(draw: st.DrawFn) -> Frame:
    """A well-formed message naming what this annotator may not act on."""
    kind = draw(st.sampled_from(["label", "correct", "skip"]))
    label_id = draw(st.uuids()).hex
    message, _fields = _message(kind, label_id)
    target = {"label": "item_id", "correct": "corrects", "skip": "item_id"}[kind]
    carried = None if kind == "skip" else label_id
    if kind != "skip" and draw(st.booleans()):
        message["label"] = draw(st.text(max_size=10).filter(lambda x: x not in LABELS))
        return Frame(
            f"{kind}, unknown label", message, frozenset({"unknown_label"}), False, carried
        )
    message[target] = draw(ghost_ids)
    code = {"label": "unknown_item", "correct": "unknown_label_id", "skip": "not_leased"}[kind]
    return Frame(f"{kind}, unknown {target}", message, frozenset({code}), False, carried)


@st.composite
def oversize_frames(draw: st.DrawFn) -> Frame:
    """A valid label padded past the frame limit, yet under the WebSocket layer's own (4x)."""
    size = draw(st.integers(MAX_FRAME_BYTES + 1, 4 * MAX_FRAME_BYTES - 64))
    message = _label_message(draw(st.uuids()).hex)
    message["label_id"] += "x" * (size - len(encode(message)))
    return Frame("over the frame limit", message, frozenset({"frame_too_large"}))


junk_text = st.text(max_size=200).filter(lambda raw: not _is_client_frame(raw))
junk_bytes = st.binary(max_size=200).filter(lambda raw: not _is_client_frame(raw))
junk_json = json_values.filter(lambda value: not _is_client_message(value))
junk_frames = st.one_of(
    junk_text.map(lambda raw: Frame("any text", raw, raw=True)),
    junk_bytes.map(lambda raw: Frame("any bytes", raw, raw=True)),
    junk_json.map(lambda value: Frame("any JSON", value)),
)
#: As many near-valid messages as junk (``one_of`` would flatten the junk's three branches and
#: give each the weight of a whole kind).
bad_frames = st.sampled_from(
    [junk_frames, malformed_messages(), misdirected_messages(), oversize_frames()]
).flatmap(lambda frames: frames)


#: Bad frames, and between them: labelling the held item, retrying the last label, skipping the
#: held item. Each run ends labelling and retrying, so each checks an ack after the junk.
annotator_steps = st.lists(
    st.sampled_from(
        [bad_frames, bad_frames, st.just("label"), st.just("retry"), st.just("skip")]
    ).flatmap(lambda step: step),
    min_size=1,
    max_size=10,
).map(lambda steps: [*steps, "label", "retry"])

dashboard_junk = st.lists(
    st.text(max_size=200)
    | st.binary(max_size=200)
    | json_values.map(lambda value: encode(value).decode())
    | st.integers(MAX_FRAME_BYTES, 4 * MAX_FRAME_BYTES - 1).map(lambda n: "x" * n),
    min_size=1,
    max_size=8,
)
