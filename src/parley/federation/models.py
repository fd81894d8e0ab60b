"""Typed, bounded models of what a peer may send to the federation API (docs/protocol.md §11).

Each route's body (or query) is checked against a pydantic v2 model before the route acts:
integers within 0..2^63-1 (the range of an SQL ``BIGINT``, so no value a peer sends can
overflow the database or the arithmetic done on it), strings and lists with maximum
lengths, and no keys the protocol does not name. A body that does not fit is refused with
``400 malformed_request`` (``413 batch_too_large`` for too many envelopes), listing the
problems in ``details.problems``.

The models only *check*: the route goes on with the parsed JSON exactly as it arrived,
because signed documents (envelopes, charters, status records, link tests, checkpoints) are
verified over the canonical bytes (RFC 8785) of what the signer signed, and a model
re-serialized could differ from it.

:func:`openapi` describes the API in OpenAPI 3.1 (JSON Schema 2020-12) from the same models;
``scripts/federation-openapi`` writes it to ``docs/federation.openapi.json``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import models_json_schema

from parley.errors import UsageError
from parley.formats.texts import T

__all__ = [
    "BODY_MODELS",
    "MAX_BATCH",
    "MAX_INT",
    "ChainQuery",
    "CharterBody",
    "CheckpointBody",
    "EnvelopesBody",
    "HeldQuery",
    "LinktestBody",
    "StatusRecordBody",
    "check_body",
    "check_query",
    "openapi",
    "openapi_text",
]

MAX_INT = 2**63 - 1  # the largest SQL BIGINT
MAX_BATCH = 5000
MAX_PROBLEMS = 10  # problems listed in a refusal; the rest are counted

M = TypeVar("M", bound=BaseModel)

Size = Annotated[int, Field(ge=0, le=MAX_INT)]
Seq = Annotated[int, Field(ge=1, le=MAX_INT)]
# Node names, channel ids and message types are at most 64 characters in the database.
Name = Annotated[str, Field(min_length=1, max_length=64)]
Time = Annotated[str, Field(min_length=1, max_length=32, description="RFC 3339 time (§1)")]
Signature = Annotated[str, Field(min_length=1, max_length=256, description="base64 Ed25519 signature")]
Uuid = Annotated[
    str,
    Field(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
]

# A SHA-256 hash in canonical base64: 43 characters and one "=" of padding.
Hash = Annotated[str, Field(min_length=44, max_length=44, pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]

# An envelope on the wire (§4.1). Its shape and every field are checked by the verification
# routine of §5 (step 1 "shape"), which names the failing envelope's index; the model leaves
# the items to it and only documents their form here.
WIRE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a signed envelope on the wire (docs/protocol.md §4.1), checked by §5",
    "properties": {
        "envelope": {"type": "object", "maxProperties": 32},
        "hash": {"type": "string", "maxLength": 71},
        "key_id": {"type": "string", "maxLength": 71},
        "signature": {"type": "string", "maxLength": 256},
    },
    "required": ["envelope", "hash", "key_id", "signature"],
    "additionalProperties": False,
}
Wire = Annotated[Any, WithJsonSchema(WIRE_SCHEMA)]


class _Strict(BaseModel):
    # strict: no coercion (a "1" or a true is not an integer); forbid: no unknown keys.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EnvelopesBody(_Strict):
    """``POST /envelopes`` (§11.3): envelopes of one sender, in chain order."""

    envelopes: Annotated[list[Wire], Field(max_length=MAX_BATCH)]


class ChainQuery(_Strict):
    """``GET /chain`` (§11.5): a range of this node's own chain in a channel."""

    # Query values arrive as text: lax mode turns decimal digits into integers.
    model_config = ConfigDict(strict=False, extra="forbid", frozen=True, populate_by_name=True)

    channel: Name
    from_: Annotated[Seq, Field(alias="from")]
    to: Seq


class HeldQuery(_Strict):
    """``GET /held`` (§11.10): what this node holds of the asker's chain in a channel."""

    model_config = ConfigDict(strict=False, extra="forbid", frozen=True)

    channel: Name


class CharterBody(_Strict):
    """``POST /charters`` (§9, §11.7): a charter document; its keys are checked by §9."""

    charter: Annotated[dict[str, Any], Field(max_length=32)]
    signatures: Annotated[dict[Name, Signature], Field(min_length=1, max_length=64)]


class StatusRecord(_Strict):
    kind: Literal["channel-status"]
    id: Annotated[str, Field(min_length=1, max_length=36)]
    channel: Name
    status: Literal["planned", "active", "suspended", "closed"]
    exempt_types: Annotated[list[Name], Field(max_length=64)]
    reason: Annotated[str, Field(max_length=4000)]
    effective: Time
    signer: Name


class StatusRecordBody(_Strict):
    """``POST /status-records`` (§10, §11.7): a signed channel status record."""

    record: StatusRecord
    signature: Signature


class LinktestPrevious(_Strict):
    id: Uuid
    rtt_ms: Annotated[float, Field(ge=0, le=1e12)] | None


class LinktestRequest(_Strict):
    kind: Literal["linktest-request"]
    id: Uuid
    channel: Name
    initiator: Name
    responder: Name
    sent_at: Time
    previous: LinktestPrevious | None


class LinktestBody(_Strict):
    """``POST /linktest`` (§11.6): a signed link-test request."""

    linktest: LinktestRequest
    signature: Signature


class Cosignature(_Strict):
    size: Size
    cosignature: Annotated[str, Field(min_length=1, max_length=999)]


class RestartFields(_Strict):
    origin: Annotated[str, Field(min_length=1, max_length=80, description="parley.<node>")]
    abandoned_size: Size
    kept_size: Size
    kept_root: Hash
    time: Time


class RestartNotice(_Strict):
    """A restored node's signed word on where its record restarts (§11.10)."""

    notice: RestartFields
    signature: Signature


class CheckpointBody(_Strict):
    """``POST /checkpoint`` (§12): the requester's checkpoint and what it witnessed of ours."""

    checkpoint: Annotated[str, Field(min_length=1, max_length=8192, description="signed note")]
    from_size: Size
    # A consistency proof of a 2^64-leaf log has at most 2*64 + 1 hashes.
    proof: Annotated[list[Hash], Field(max_length=130)]
    your_last_size: Size = 0
    your_cosignature: Cosignature | None = None
    restart: RestartNotice | None = None


class KeyDocumentBody(_Strict):
    """``POST /keys`` (§13): an upgraded identity card, a root-signed key record, or a TLS update."""

    card: Annotated[dict[str, Any], Field(max_length=16)] | None = None
    record: Annotated[dict[str, Any], Field(max_length=16)] | None = None
    # §13.7: a TLS update (a card with a new certificate), signed by the operational key.
    tls_update: Annotated[dict[str, Any], Field(max_length=16)] | None = None
    signature: Signature
    old_signature: Signature | None = None


BODY_MODELS: dict[str, type[BaseModel]] = {
    "/envelopes": EnvelopesBody,
    "/charters": CharterBody,
    "/status-records": StatusRecordBody,
    "/linktest": LinktestBody,
    "/checkpoint": CheckpointBody,
    "/keys": KeyDocumentBody,
}


def _refusal(where: str, exc: pydantic.ValidationError) -> UsageError:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    problems = [
        # A path may hold a key the peer made up: cut it so the answer stays small.
        {"path": ".".join(str(p) for p in e["loc"])[:200] or "(body)", "message": str(e["msg"])[:200]}
        for e in errors[:MAX_PROBLEMS]
    ]
    first = problems[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return UsageError(
        T(
            "{where} is not of this route's shape: {first_path}: {first_message}{more}",
            where=where,
            first_path=first["path"],
            first_message=first["message"],
            more=more,
        ),
        code="malformed_request",
        hint=T("see docs/federation.openapi.json for the shape of every federation request"),
        details={"problems": problems, "count": len(errors)},
    )


def check_body(model: type[M], payload: Any) -> M:
    """Check ``payload`` (parsed JSON) against ``model``; UsageError if it does not fit."""
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        refusal = _refusal("the body", exc)
        if model is EnvelopesBody and any(
            e["type"] == "too_long" and tuple(e["loc"]) == ("envelopes",) for e in exc.errors()
        ):
            refusal = UsageError(
                T("at most {max_batch} envelopes per batch", max_batch=MAX_BATCH),
                code="batch_too_large",
                http_status=413,
            )
        raise refusal from None


def check_query(model: type[M], items: list[tuple[str, str]]) -> M:
    """Check a query string's (key, value) pairs; a key given twice is refused."""
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise UsageError(
            T("the query names a parameter more than once"),
            code="malformed_request",
            hint=T("give each of {query_names} once", query_names=", ".join(_query_names(model))),
        )
    numbers = {f.alias or name for name, f in model.model_fields.items() if f.annotation is int}
    for key, value in items:
        # Lax parsing would also take " 1", "+1", "1_000" or "1.0": a number here is digits.
        if key in numbers and not (value.isascii() and value.isdigit()):
            raise UsageError(T("{key} must be written in decimal digits", key=key), code="malformed_request")
    try:
        return model.model_validate(dict(items))
    except pydantic.ValidationError as exc:
        raise _refusal("the query", exc) from None


def _query_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


# -- the OpenAPI document ------------------------------------------------------------------

PREFIX = "/federation/v1"
REF = "#/components/schemas/{model}"

SIGNATURE_HEADERS: list[tuple[str, str, dict[str, Any]]] = [
    ("Parley-Origin", "the sending node's name", {"type": "string", "maxLength": 64}),
    ("Parley-Destination", "the receiving node's name", {"type": "string", "maxLength": 64}),
    (
        "Parley-Time",
        "the sender's clock, RFC 3339 (§1); within max_clock_skew_s",
        {"type": "string", "maxLength": 64},
    ),
    ("Parley-Nonce", "random, never reused (32 hex digits)", {"type": "string", "maxLength": 64}),
    (
        "Parley-Signature",
        "the origin's Ed25519 signature, kind `request`, over method, path with query, origin, "
        "destination, time, nonce and the body's SHA-256 (docs/protocol.md §11.2)",
        {"type": "string", "maxLength": 256},
    ),
]

ERRORS: dict[str, str] = {
    "400": "malformed_json, malformed_request, verification_failed, chain_broken, …",
    "401": "the request signature, origin, destination, time or nonce was refused",
    "403": "wrong_sender, not_a_member, type_not_allowed, channel_suspended, …",
    "404": "unknown_channel (on /chain, /held, /returned)",
    "409": "sequence_gap, chain_fork, conflict, conflict_retry, witness_size_mismatch",
    "413": "request_too_large, batch_too_large, body_too_large",
    "415": "unsupported_media_type: a body that is not application/json",
    "422": "invalid_body: a message body that does not match its schema",
    "503": "unavailable: this node's database is unavailable; standby: this process waits on a "
    "read-only standby database (Retry-After). Retry later",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "machine-readable code (§11.8)"},
        "message": {"type": "string"},
        "hint": {"type": "string"},
        "details": {"type": "object"},
    },
    "required": ["error", "message"],
}

OPERATIONS: list[tuple[str, str, str, str]] = [
    # (method, path, operationId, summary)
    ("post", "/envelopes", "postEnvelopes", "Deliver a batch of envelopes (§11.3)"),
    ("get", "/chain", "getChain", "Fetch a range of this node's own chain in a channel (§11.5)"),
    ("get", "/held", "getHeld", "What this node holds of the asker's own chain in a channel (§11.10)"),
    ("get", "/returned", "getReturned", "Fetch a range of the asker's own chain, with receipts (§11.10)"),
    ("post", "/charters", "postCharter", "Deliver a charter document (§11.7)"),
    ("post", "/status-records", "postStatusRecord", "Deliver a channel status record (§11.7)"),
    ("post", "/linktest", "postLinktest", "Answer a link test (§11.6)"),
    ("post", "/checkpoint", "postCheckpoint", "Exchange checkpoints for witnessing (§12)"),
    ("post", "/keys", "postKeyDocument", "Deliver an upgraded card, key record (§13) or TLS update (§13.7)"),
]


def openapi() -> dict[str, Any]:
    """The federation API as an OpenAPI 3.1 document, built from the models above."""
    models: list[type[BaseModel]] = [*BODY_MODELS.values(), ChainQuery, HeldQuery]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))
    schemas["Error"] = ERROR_SCHEMA
    queries = {"/chain": schemas.pop("ChainQuery"), "/held": schemas.pop("HeldQuery")}
    queries["/returned"] = queries["/chain"]
    parameters = {
        name.replace("-", ""): {
            "name": name,
            "in": "header",
            "required": True,
            "description": description,
            "schema": schema,
        }
        for name, description, schema in SIGNATURE_HEADERS
    }
    header_refs = [{"$ref": f"#/components/parameters/{p}"} for p in parameters]
    errors = {
        status: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
        for status, text in ERRORS.items()
    }
    paths: dict[str, Any] = {}
    for method, path, op_id, summary in OPERATIONS:
        op: dict[str, Any] = {
            "operationId": op_id,
            "summary": summary,
            "parameters": list(header_refs),
            "responses": {
                "200": {
                    "description": "done; the answer of docs/protocol.md §11.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **errors,
            },
        }
        model = BODY_MODELS.get(path)
        if model is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
            }
        else:
            query = queries[path]
            required = set(query.get("required", []))
            op["parameters"] += [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in query["properties"].items()
            ]
        paths[PREFIX + path] = {method: op}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley federation API",
            "version": "parley/1",
            "description": (
                "What one Parley node serves to its pinned peers over HTTPS (docs/protocol.md "
                "§11). Every request is signed (the Parley-* headers); every refusal is a 4xx "
                "with {error, message} and changes nothing. Generated by "
                "scripts/federation-openapi from parley.federation.models; do not edit."
            ),
        },
        "paths": paths,
        "components": {"parameters": parameters, "schemas": schemas},
    }


def openapi_text() -> str:
    """The document as committed: indented JSON with a final newline."""
    return json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"
