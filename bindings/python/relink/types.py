"""relink.types — relink's numbered values as Python enums: connection states and reasons, channel states and
reasons, member-left causes, attempt failures, profiles, log levels, operation kinds and error codes.

Each enum is an ``IntEnum`` with the C API's numbers (so ``ConnectionState.CONNECTED == 3``, the native RTC SDKs'
number) and the canonical names relink uses everywhere (logs, relink-cli's output, docs): ``str(member)`` and
``member.name`` are the canonical name (``"CONNECTED"``, ``"INTERRUPTED"``), except profiles, whose canonical names
are lower case (``str(Profile.RTC_WEB) == "rtc-web"``). ``from_name()`` parses a canonical name.

A number a newer library reports that this module does not know yet is kept as a plain ``int`` by ``coerce()``
rather than raising, so an old binding keeps working with a newer library.
"""

from __future__ import annotations

import enum
from typing import Type, TypeVar, Union

from . import _ffi

E = TypeVar("E", bound="NamedIntEnum")


class NamedIntEnum(enum.IntEnum):
    """An IntEnum whose str() is its canonical name (Python 3.11's IntEnum prints the number)."""

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_name(cls: Type[E], name: str) -> E:
        """The member of canonical name `name` (ValueError for any other string)."""
        for member in cls:
            if str(member) == name:
                return member
        raise ValueError(f"{name!r} is no {cls.__name__}")

    @classmethod
    def coerce(cls: Type[E], value: int) -> Union[E, int]:
        """The member numbered `value`, or `value` itself when this binding does not know that number."""
        try:
            return cls(value)
        except ValueError:
            return value


class ConnectionState(NamedIntEnum):
    """The connection's state: the native RTC SDKs' numbers 1–5, then relink's own."""

    DISCONNECTED = _ffi.STATE_DISCONNECTED
    CONNECTING = _ffi.STATE_CONNECTING
    CONNECTED = _ffi.STATE_CONNECTED
    RECONNECTING = _ffi.STATE_RECONNECTING
    FAILED = _ffi.STATE_FAILED
    ABORTED = _ffi.STATE_ABORTED  #: kicked: remote login, or banned (rtm, room)
    DISCONNECTING = _ffi.STATE_DISCONNECTING  #: rtc-web: a graceful leave waits for the server


class ConnectionReason(NamedIntEnum):
    """Why the connection state changed: the native RTC SDK's numbers 0–16, relink's own from 100."""

    CONNECTING = _ffi.REASON_CONNECTING
    JOIN_SUCCESS = _ffi.REASON_JOIN_SUCCESS
    INTERRUPTED = _ffi.REASON_INTERRUPTED
    BANNED_BY_SERVER = _ffi.REASON_BANNED_BY_SERVER
    JOIN_FAILED = _ffi.REASON_JOIN_FAILED
    LEAVE_CHANNEL = _ffi.REASON_LEAVE_CHANNEL
    INVALID_APP_ID = _ffi.REASON_INVALID_APP_ID
    INVALID_CHANNEL_NAME = _ffi.REASON_INVALID_CHANNEL_NAME
    INVALID_TOKEN = _ffi.REASON_INVALID_TOKEN
    TOKEN_EXPIRED = _ffi.REASON_TOKEN_EXPIRED
    REJECTED_BY_SERVER = _ffi.REASON_REJECTED_BY_SERVER
    SETTING_PROXY_SERVER = _ffi.REASON_SETTING_PROXY_SERVER
    RENEW_TOKEN = _ffi.REASON_RENEW_TOKEN
    CLIENT_IP_ADDRESS_CHANGED = _ffi.REASON_CLIENT_IP_ADDRESS_CHANGED
    KEEP_ALIVE_TIMEOUT = _ffi.REASON_KEEP_ALIVE_TIMEOUT
    REJOIN_SUCCESS = _ffi.REASON_REJOIN_SUCCESS
    LOST = _ffi.REASON_LOST
    LOGIN = _ffi.REASON_LOGIN
    LOGIN_SUCCESS = _ffi.REASON_LOGIN_SUCCESS
    LOGIN_FAILURE = _ffi.REASON_LOGIN_FAILURE
    LOGIN_TIMEOUT = _ffi.REASON_LOGIN_TIMEOUT
    LOGOUT = _ffi.REASON_LOGOUT
    REMOTE_LOGIN = _ffi.REASON_REMOTE_LOGIN
    RECOVERY_REFUSED = _ffi.REASON_RECOVERY_REFUSED


class ChannelState(NamedIntEnum):
    """A channel's (room's) state."""

    DISCONNECTED = _ffi.CHANNEL_DISCONNECTED
    CONNECTING = _ffi.CHANNEL_CONNECTING
    CONNECTED = _ffi.CHANNEL_CONNECTED


class ChannelReason(NamedIntEnum):
    """Why a channel's state changed."""

    JOINING = _ffi.CHANNEL_REASON_JOINING
    JOINED = _ffi.CHANNEL_REASON_JOINED
    JOIN_FAILED = _ffi.CHANNEL_REASON_JOIN_FAILED
    REJOINING = _ffi.CHANNEL_REASON_REJOINING
    REJOINED = _ffi.CHANNEL_REASON_REJOINED
    REJOIN_FAILED = _ffi.CHANNEL_REASON_REJOIN_FAILED
    KICKED_OUT = _ffi.CHANNEL_REASON_KICKED_OUT
    LEFT = _ffi.CHANNEL_REASON_LEFT
    LEAVE_FAILED = _ffi.CHANNEL_REASON_LEAVE_FAILED


class MemberLeftCause(NamedIntEnum):
    """Why another member left a channel."""

    QUIT = _ffi.MEMBER_LEFT_QUIT
    DROPPED = _ffi.MEMBER_LEFT_DROPPED  #: no data from it for the presence timeout
    KICKED = _ffi.MEMBER_LEFT_KICKED


class AttemptFailure(NamedIntEnum):
    """Why a connection attempt failed: the step that failed."""

    DNS = _ffi.ATTEMPT_DNS
    REFUSED = _ffi.ATTEMPT_REFUSED
    TIMEOUT = _ffi.ATTEMPT_TIMEOUT
    NETWORK = _ffi.ATTEMPT_NETWORK
    PROXY = _ffi.ATTEMPT_PROXY
    TLS = _ffi.ATTEMPT_TLS
    CERTIFICATE = _ffi.ATTEMPT_CERTIFICATE
    HTTP = _ffi.ATTEMPT_HTTP
    PROTOCOL = _ffi.ATTEMPT_PROTOCOL
    CLOSED = _ffi.ATTEMPT_CLOSED
    SERVER = _ffi.ATTEMPT_SERVER
    CONFIG = _ffi.ATTEMPT_CONFIG
    BUSY = _ffi.ATTEMPT_BUSY  #: the server is overloaded; the detail names its retry-after


class Profile(NamedIntEnum):
    """The timeline and behaviour a client follows (docs/migrating.md). Canonical names: rtm, rtc, rtc-web, room."""

    RTM = _ffi.PROFILE_RTM
    RTC = _ffi.PROFILE_RTC
    RTC_WEB = _ffi.PROFILE_RTC_WEB
    ROOM = _ffi.PROFILE_ROOM

    def __str__(self) -> str:
        return self.name.lower().replace("_", "-")


class LogLevel(NamedIntEnum):
    """A log line is produced when its level is at least the configured one."""

    TRACE = _ffi.LOG_TRACE
    DEBUG = _ffi.LOG_DEBUG
    INFO = _ffi.LOG_INFO
    WARN = _ffi.LOG_WARN
    ERROR = _ffi.LOG_ERROR
    OFF = _ffi.LOG_OFF


class OpKind(NamedIntEnum):
    """The kind of operation an OperationCompleted completes."""

    PEER_MESSAGE = _ffi.OP_PEER_MESSAGE
    CHANNEL_MESSAGE = _ffi.OP_CHANNEL_MESSAGE
    PUBLISH = _ffi.OP_PUBLISH
    UNPUBLISH = _ffi.OP_UNPUBLISH
    SET_ATTRIBUTES = _ffi.OP_SET_ATTRIBUTES
    GET_ATTRIBUTES = _ffi.OP_GET_ATTRIBUTES
    RENEW_TOKEN = _ffi.OP_RENEW_TOKEN
    RECOVERY_KEY = _ffi.OP_RECOVERY_KEY


class ErrorCode(NamedIntEnum):
    """Every code relink reports (relink::errc's numbers): 1–9 misuse, 20–27 transient, 40–53 fatal, 60–63
    cancelled; 99 is an error of the C library itself (out of memory, an unexpected exception)."""

    OK = _ffi.OK
    NOT_LOGGED_IN = _ffi.E_NOT_LOGGED_IN
    ALREADY_LOGGED_IN = _ffi.E_ALREADY_LOGGED_IN
    INVALID_ARGUMENT = _ffi.E_INVALID_ARGUMENT
    INVALID_CHANNEL_NAME = _ffi.E_INVALID_CHANNEL_NAME
    INVALID_USER_ID = _ffi.E_INVALID_USER_ID
    NOT_JOINED = _ffi.E_NOT_JOINED
    ALREADY_JOINED = _ffi.E_ALREADY_JOINED
    PAYLOAD_TOO_LARGE = _ffi.E_PAYLOAD_TOO_LARGE
    UNKNOWN_CHANNEL = _ffi.E_UNKNOWN_CHANNEL
    QUEUE_FULL = _ffi.E_QUEUE_FULL
    RATE_LIMITED = _ffi.E_RATE_LIMITED
    SEND_TIMEOUT = _ffi.E_SEND_TIMEOUT
    ACK_TIMEOUT = _ffi.E_ACK_TIMEOUT
    NETWORK_TIMEOUT = _ffi.E_NETWORK_TIMEOUT
    NETWORK_INTERRUPTED = _ffi.E_NETWORK_INTERRUPTED
    LOGIN_TIMEOUT = _ffi.E_LOGIN_TIMEOUT
    LIMIT_EXCEEDED = _ffi.E_LIMIT_EXCEEDED
    INVALID_TOKEN = _ffi.E_INVALID_TOKEN
    TOKEN_EXPIRED = _ffi.E_TOKEN_EXPIRED
    INVALID_APP_ID = _ffi.E_INVALID_APP_ID
    BANNED_BY_SERVER = _ffi.E_BANNED_BY_SERVER
    REMOTE_LOGIN = _ffi.E_REMOTE_LOGIN
    REJECTED_BY_SERVER = _ffi.E_REJECTED_BY_SERVER
    LOGIN_FAILURE = _ffi.E_LOGIN_FAILURE
    PEER_OFFLINE = _ffi.E_PEER_OFFLINE
    GAVE_UP = _ffi.E_GAVE_UP
    PROTOCOL_ERROR = _ffi.E_PROTOCOL_ERROR
    RECOVERY_EXPIRED = _ffi.E_RECOVERY_EXPIRED
    RECOVERY_USED = _ffi.E_RECOVERY_USED
    RECOVERY_INVALID = _ffi.E_RECOVERY_INVALID
    RECOVERY_WRONG_USER = _ffi.E_RECOVERY_WRONG_USER
    LOGGED_OUT = _ffi.E_LOGGED_OUT
    SESSION_ABORTED = _ffi.E_SESSION_ABORTED
    SESSION_FAILED = _ffi.E_SESSION_FAILED
    CHANNEL_LEFT = _ffi.E_CHANNEL_LEFT
    INTERNAL = _ffi.E_INTERNAL


def canonical(value: Union[NamedIntEnum, int]) -> str:
    """The canonical name of an enum member; "UNKNOWN" for a number the binding does not know."""
    return str(value) if isinstance(value, NamedIntEnum) else "UNKNOWN"
