"""HTTP/2 connection errors: ``h2`` exceptions to RFC 9113 §7 codes, GOAWAY bytes, preface check."""

from __future__ import annotations

from h2.errors import ErrorCodes
from h2.exceptions import DenialOfServiceError, H2Error, ProtocolError
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hyperframe.exceptions import InvalidDataError
from hyperframe.frame import GoAwayFrame

PREFACE_AND_HEADER = 24 + 9  # the magic string plus one frame header
SETTINGS_TYPE = 0x4
GOAWAY_HEADER = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"  # 8-byte GOAWAY on stream 0
_HPACK_FAILURES = (HPACKError, IndexError, TypeError, UnicodeDecodeError)


def error_code(exc: H2Error) -> int:
    """The RFC 9113 §7 code for an ``h2`` exception (h2 reports HPACK failures as
    PROTOCOL_ERROR; RFC 9113 §4.3 asks for COMPRESSION_ERROR)."""
    if type(exc) is ProtocolError:
        cause = exc.__cause__
        if isinstance(cause, _HPACK_FAILURES):
            return ErrorCodes.COMPRESSION_ERROR
        if isinstance(cause, InvalidDataError) and "ack frame must not have" in str(cause):
            return ErrorCodes.FRAME_SIZE_ERROR  # RFC 9113 §6.5: SETTINGS ACK with a payload
    code = getattr(exc, "error_code", None)
    return int(code) if code is not None else ErrorCodes.PROTOCOL_ERROR


def rejected_status(exc: H2Error) -> int | None:
    """The HTTP status HTTP/1.1 answers for the request behind a connection error, if any:
    a header block over SETTINGS_MAX_HEADER_LIST_SIZE is HTTP/1.1's 431 (RFC 6585 §5)."""
    if isinstance(exc, DenialOfServiceError) and isinstance(
        exc.__cause__, OversizedHeaderListError
    ):
        return 431
    return None


def goaway(last_stream_id: int, code: int = ErrorCodes.NO_ERROR) -> bytes:
    """A GOAWAY frame built outside ``h2``, whose state machine accepts nothing after one."""
    return GoAwayFrame(0, last_stream_id=last_stream_id, error_code=code).serialize()


def without_h2_goaway(data: bytes) -> bytes:
    """``h2`` queues its own GOAWAY before raising; drop it so ours, with the precise code, goes."""
    return data[:-17] if data[-17:-8] == GOAWAY_HEADER else data


def preface_verdict(seen: bytes) -> bool | None:
    """RFC 9113 §3.4: the magic string must be followed by SETTINGS. None: too early to tell."""
    if len(seen) < PREFACE_AND_HEADER:
        return None
    return seen[PREFACE_AND_HEADER - 6] == SETTINGS_TYPE
