"""JSON-RPC 2.0 framing and error objects of the humanfx plugin server.

Framing: **newline-delimited JSON**.  Every message (request, response or notification) is one
UTF-8 JSON object on one line, terminated by ``\\n``; JSON text never contains a raw newline,
so a line is exactly a message.  The same framing is used on stdio and on TCP.  A line longer
than the server's request limit (default :data:`MAX_REQUEST_BYTES`) is answered with a
:data:`REQUEST_TOO_LARGE` error and skipped.  Batches (JSON arrays) are not supported and are
answered with :data:`INVALID_REQUEST`.

This module has no dependencies beyond the standard library; the client uses it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

#: Default largest request line, in bytes (1 MiB).
MAX_REQUEST_BYTES = 1 << 20

# Standard JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Application range (-32000 .. -32099): humanfx errors.
HUMANFX_ERROR = -32000  #: a HumanfxError/InputError (bad file, unknown person, ...)
CANCELLED = -32001  #: a job was cancelled; nothing partial was kept
BUSY = -32002  #: the clip is busy with another client's job
UNAUTHORIZED = -32003  #: TCP: no or wrong token
PATH_NOT_ALLOWED = -32004  #: a path outside the server's allowed roots
REQUEST_TOO_LARGE = -32005  #: a request line over the size limit
UNKNOWN_ID = -32006  #: an unknown clip_id or job_id

ERROR_NAMES = {
    PARSE_ERROR: "parse error", INVALID_REQUEST: "invalid request",
    METHOD_NOT_FOUND: "method not found", INVALID_PARAMS: "invalid params",
    INTERNAL_ERROR: "internal error", HUMANFX_ERROR: "humanfx error", CANCELLED: "cancelled",
    BUSY: "busy", UNAUTHORIZED: "unauthorized", PATH_NOT_ALLOWED: "path not allowed",
    REQUEST_TOO_LARGE: "request too large", UNKNOWN_ID: "unknown id",
}


class RpcError(Exception):
    """An error that becomes a JSON-RPC error object ``{code, message, data?}``.

    ``message`` is one line for people; ``data`` optional JSON-ready details.
    """

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = int(code)
        self.message = " ".join(str(message).split())
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


@dataclass(frozen=True)
class Request:
    """A parsed, valid request.  ``id`` is ``None`` for a notification (no response)."""

    method: str
    params: dict[str, Any] | list[Any]
    id: str | int | None
    is_notification: bool


def encode(message: dict[str, Any]) -> bytes:
    """One message as a ``\\n``-terminated UTF-8 line (no raw newlines inside)."""
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":"),
                       allow_nan=False) + "\n").encode("utf-8")


def response(req_id: str | int | None, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def error_response(req_id: str | int | None, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_dict()}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool))


def parse_request(line: bytes) -> Request:
    """Parse one request line.

    Raises:
        RpcError: PARSE_ERROR for bad JSON/UTF-8, INVALID_REQUEST for anything that is not a
        JSON-RPC 2.0 request object (its ``data`` carries ``{"id": ...}`` when an id could be
        read, so the error can be answered to it).
    """
    try:
        msg = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RpcError(PARSE_ERROR, f"parse error: {exc}") from None
    if isinstance(msg, list):
        raise RpcError(INVALID_REQUEST, "batches are not supported; send one request per line")
    if not isinstance(msg, dict):
        raise RpcError(INVALID_REQUEST, "a request must be a JSON object")
    req_id = msg.get("id")
    id_data = {"id": req_id} if _valid_id(req_id) else None
    if msg.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'a request needs "jsonrpc": "2.0"', id_data)
    if not _valid_id(req_id):
        raise RpcError(INVALID_REQUEST, "the request id must be a string, an integer or null")
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, 'a request needs a "method" string', id_data)
    params = msg.get("params", {})
    if not isinstance(params, (dict, list)):
        raise RpcError(INVALID_REQUEST, '"params" must be an object or an array', id_data)
    return Request(method=method, params=params, id=req_id, is_notification="id" not in msg)


def read_line(stream: IO[bytes], limit: int) -> bytes | None:
    """The next line of ``stream`` without its newline; ``None`` at end of stream.

    Raises:
        RpcError: REQUEST_TOO_LARGE when the line is longer than ``limit`` bytes; the rest of
        that line is read and dropped, so the stream stays in step.
    """
    line = stream.readline(limit + 1)
    if not line:
        return None
    if len(line) > limit and not line.endswith(b"\n"):
        while line and not line.endswith(b"\n"):
            line = stream.readline(1 << 16)
        raise RpcError(REQUEST_TOO_LARGE,
                       f"request larger than the server's limit of {limit} bytes")
    return line.rstrip(b"\r\n")
