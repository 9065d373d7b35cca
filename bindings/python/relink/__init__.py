"""relink — Python binding of relink's C API (librelink.so.1), with ctypes from the standard library.

    import relink

    with relink.Client(url="wss://relink.example.com/", app_id="my-app", user_id="alice",
                       token=token_from_my_backend) as client:
        client.login()
        client.wait_for(relink.ConnectionStateChanged, lambda e: e.state is relink.ConnectionState.CONNECTED)
        client.join("lobby")
        for event in client.events(timeout=30):
            if isinstance(event, relink.MessageReceived):
                print(event.from_user, event.text)

Modules: ``relink.client`` (Client, Status), ``relink.events`` (the event dataclasses), ``relink.types`` (the
enums), ``relink.errors`` (the exceptions), ``relink.token`` (minting tokens), ``relink.cli`` (``python3 -m
relink.cli``, the relink-cli driver). The library is found through RELINK_LIBRARY, beside the package, the system's
loader or the repository's build tree (relink._ffi says how); importing never fails for want of it, the first call
that needs it does (LibraryError).
"""

from __future__ import annotations

from . import _ffi
from ._ffi import LibraryError
from .client import TIMINGS, Client, ClientClosedError, Status
from .errors import (
    CancelledError,
    ConfigError,
    FatalError,
    InternalError,
    MisuseError,
    RelinkError,
    TransientError,
    error_from_code,
)
from .events import (
    AgreedTimings,
    AttemptFailed,
    AttemptFinished,
    AttemptSteps,
    ChannelStateChanged,
    ConnectionLost,
    ConnectionStateChanged,
    ContinuityReport,
    Event,
    JoinSuccess,
    LinkQuality,
    LinkQualityChanged,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    OperationCompleted,
    RejoinSuccess,
    StreamAdded,
    StreamRemoved,
    TokenExpired,
    TokenPrivilegeWillExpire,
    UnknownEvent,
)
from .token import mint as mint_token
from .types import (
    AttemptFailure,
    ChannelReason,
    ChannelState,
    ConnectionReason,
    ConnectionState,
    ErrorCode,
    LogLevel,
    MemberLeftCause,
    OpKind,
    Profile,
)


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _ffi.text(_ffi.lib().relink_version()) or ""


def abi_version() -> int:
    """The loaded library's ABI version (equal to relink._ffi.ABI_VERSION, or loading would have failed)."""
    return int(_ffi.lib().relink_abi_version())


def is_valid_channel_name(name: str) -> bool:
    """True for a valid channel (or stream) name: 1–64 bytes of a-zA-Z0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~,"""
    return bool(_ffi.lib().relink_is_valid_channel_name(_ffi.encode(name, "name")))


def is_valid_user_id(user_id: str) -> bool:
    """True for a valid user id: a valid channel name without a leading or trailing space."""
    return bool(_ffi.lib().relink_is_valid_user_id(_ffi.encode(user_id, "user_id")))


__all__ = [
    "AgreedTimings", "AttemptFailed", "AttemptFailure", "AttemptFinished", "AttemptSteps", "CancelledError", "ChannelReason", "ChannelState",
    "ChannelStateChanged", "Client", "ClientClosedError", "ConfigError", "ConnectionLost", "ConnectionReason",
    "ConnectionState", "ConnectionStateChanged", "ContinuityReport", "ErrorCode", "Event", "FatalError",
    "InternalError", "JoinSuccess", "LibraryError", "LinkQuality", "LinkQualityChanged", "LogLevel", "MemberJoined", "MemberLeft", "MemberLeftCause",
    "MessageReceived", "MisuseError", "OpKind", "OperationCompleted", "Profile", "RejoinSuccess", "RelinkError",
    "Status", "StreamAdded", "StreamRemoved", "TIMINGS", "TokenExpired", "TokenPrivilegeWillExpire",
    "TransientError", "UnknownEvent", "abi_version", "error_from_code", "is_valid_channel_name",
    "is_valid_user_id", "mint_token", "version",
]
