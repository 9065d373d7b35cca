"""relink.errors — relink's error codes as Python exceptions.

Every code the C API returns maps to one ``RelinkError`` subclass chosen by what the caller should do about it
(its *condition*, as ``relink_error_condition()`` says):

=====================  ==========================  ===================================================
exception              codes                       meaning
=====================  ==========================  ===================================================
``MisuseError``        1–9 (NOT_LOGGED_IN, ...)    wrong for the state, or invalid arguments
``TransientError``     20–27 (QUEUE_FULL, ...)     retry later; the SDK may already be retrying
``FatalError``         40–53 (INVALID_TOKEN, ...)  do not retry with the same inputs
``CancelledError``     60–63 (LOGGED_OUT, ...)     ended by the app or by the end of the session
``InternalError``      99                          out of memory or a bug inside the library
=====================  ==========================  ===================================================

``ConfigError`` (a ``MisuseError`` and a ``ValueError``) is a configuration the client cannot use; its ``field``
names the setting ("url", "app_id", "tls.ca_file", ...).

Each exception has ``code`` (an ``ErrorCode``, or an int the binding does not know), ``name`` (the canonical name,
"NOT_LOGGED_IN") and ``condition``.
"""

from __future__ import annotations

from typing import Optional, Union

from . import _ffi
from .types import ErrorCode, canonical


class RelinkError(Exception):
    """An error relink reported: ``code`` (ErrorCode), ``name`` (its canonical name), ``condition``."""

    condition: int = _ffi.CONDITION_NONE

    def __init__(self, code: Union[ErrorCode, int], message: Optional[str] = None) -> None:
        self.code: Union[ErrorCode, int] = ErrorCode.coerce(int(code))
        self.name: str = canonical(self.code)
        self.message: str = message if message is not None else _describe(int(code))
        super().__init__(f"{self.name}: {self.message}")


class MisuseError(RelinkError):
    """Wrong for the client's state, or invalid arguments (codes 1–9). Fix the calling code."""

    condition = _ffi.CONDITION_MISUSE


class TransientError(RelinkError):
    """Retry later; the SDK may already be retrying (codes 20–27)."""

    condition = _ffi.CONDITION_TRANSIENT


class FatalError(RelinkError):
    """Do not retry with the same inputs (codes 40–53): a new token, another app id, ..."""

    condition = _ffi.CONDITION_FATAL


class CancelledError(RelinkError):
    """Ended by the app (logout, leave) or by the end of the session (codes 60–63)."""

    condition = _ffi.CONDITION_CANCELLED


class InternalError(RelinkError):
    """An error of the C library itself (code 99): out of memory or an unexpected exception inside it."""


class ConfigError(MisuseError, ValueError):
    """A configuration the client cannot use. ``field`` names the setting ("url", "app_id", "tls.ca_file")."""

    def __init__(self, field: str, message: str) -> None:
        self.field: str = field
        super().__init__(ErrorCode.INVALID_ARGUMENT, message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


_BY_CONDITION = {
    _ffi.CONDITION_MISUSE: MisuseError,
    _ffi.CONDITION_TRANSIENT: TransientError,
    _ffi.CONDITION_FATAL: FatalError,
    _ffi.CONDITION_CANCELLED: CancelledError,
}


def condition_of(code: int) -> int:
    """RELINK_CONDITION_* of a code, from the documented number ranges (as relink_error_condition())."""
    if 1 <= code <= 9:
        return _ffi.CONDITION_MISUSE
    if 20 <= code <= 27:
        return _ffi.CONDITION_TRANSIENT
    if 40 <= code <= 53:
        return _ffi.CONDITION_FATAL
    if 60 <= code <= 63:
        return _ffi.CONDITION_CANCELLED
    return _ffi.CONDITION_NONE


def _describe(code: int) -> str:
    """The library's sentence for a code, or its name when the library cannot be loaded."""
    try:
        return _ffi.text(_ffi.lib().relink_error_message(code)) or canonical(ErrorCode.coerce(code))
    except _ffi.LibraryError:
        return canonical(ErrorCode.coerce(code))


def error_from_code(code: int, message: Optional[str] = None) -> RelinkError:
    """The exception for a non-zero code: the subclass of its condition (InternalError for 99 and unknown codes)."""
    cls = _BY_CONDITION.get(condition_of(code), InternalError)
    return cls(code, message)


def check(code: int) -> None:
    """Raises the exception of `code` unless it is RELINK_OK."""
    if code != _ffi.OK:
        raise error_from_code(code)
