"""relink.events — everything a relink client tells the app, as frozen dataclasses.

One class per event of the C API (``RELINK_EVENT_*``): ConnectionStateChanged, AttemptFailed, ConnectionLost,
JoinSuccess, RejoinSuccess, ChannelStateChanged, MemberJoined, MemberLeft, StreamAdded, StreamRemoved,
MessageReceived, ContinuityReport, TokenPrivilegeWillExpire, TokenExpired, OperationCompleted, LinkQualityChanged
and AttemptFinished. ``Event`` is their union. Each event is a copy made while the library's ``relink_event`` was alive, so it may be kept, passed
to other threads and compared freely. Durations are in milliseconds (``*_ms``), as in the C API.

``from_c()`` makes the dataclass of a ``relink_event``; an event type this binding does not know yet (a newer
library) becomes ``UnknownEvent`` rather than an error.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from . import _ffi
from .errors import RelinkError, error_from_code
from .types import (
    AttemptFailure,
    ChannelReason,
    ChannelState,
    ConnectionReason,
    ConnectionState,
    ErrorCode,
    MemberLeftCause,
    OpKind,
    canonical,
)


@dataclass(frozen=True)
class AttemptFailed:
    """A connection attempt failed (before or while logging in), reported at once for every attempt.

    ``attempt``: which attempt of the login or outage (1, 2, ...); ``cause``: the step that failed;
    ``detail``: for people (the step, the address and the error)."""

    attempt: int
    cause: Union[AttemptFailure, int]
    detail: str


@dataclass(frozen=True)
class AgreedTimings:
    """The server-side timings agreed at a login (``clamped``: the server held at least one to its bounds)."""

    heartbeat_interval_ms: int
    presence_timeout_ms: int
    backfill_window_ms: int
    backfill_count: int
    clamped: bool


@dataclass(frozen=True)
class ConnectionStateChanged:
    """The connection state changed: exactly one per change, in order (``seq`` 1, 2, 3 ... per client).

    ``attempt``: reconnect attempts in the current outage; ``next_retry_ms``: until the next scheduled attempt (0:
    none); ``last_failure``: the last failed attempt since the last successful login, if any (a DISCONNECTED
    LOGIN_TIMEOUT names what kept the client from connecting); ``timings``: with CONNECTED, what the server
    agreed to."""

    state: Union[ConnectionState, int]
    previous_state: Union[ConnectionState, int]
    reason: Union[ConnectionReason, int]
    seq: int
    attempt: int = 0
    next_retry_ms: int = 0
    last_failure: Optional[AttemptFailed] = None
    timings: Optional[AgreedTimings] = None


@dataclass(frozen=True)
class ConnectionLost:
    """rtc: still no link 10 s after entering RECONNECTING (the SDK keeps reconnecting)."""


@dataclass(frozen=True)
class JoinSuccess:
    """rtc, rtc-web: a join() of ``channel`` succeeded."""

    channel: str


@dataclass(frozen=True)
class RejoinSuccess:
    """rtc, rtc-web, room: a reconnect succeeded after a visible outage."""


@dataclass(frozen=True)
class ChannelStateChanged:
    """A channel's (room's) state changed; ``error`` is the code when the change is a failure (OK otherwise)."""

    channel: str
    state: Union[ChannelState, int]
    reason: Union[ChannelReason, int]
    error: Union[ErrorCode, int] = ErrorCode.OK


@dataclass(frozen=True)
class MemberJoined:
    """Another user joined a channel this client is in (also each member already there when this client joins)."""

    channel: str
    user_id: str


@dataclass(frozen=True)
class MemberLeft:
    """Another user left a channel this client is in: QUIT, DROPPED (presence timeout) or KICKED."""

    channel: str
    user_id: str
    cause: Union[MemberLeftCause, int]


@dataclass(frozen=True)
class StreamAdded:
    """Another member of a channel published a stream (an announcement: relink carries no media)."""

    channel: str
    user_id: str
    stream: str


@dataclass(frozen=True)
class StreamRemoved:
    """Another member of a channel withdrew a stream, or left with it."""

    channel: str
    user_id: str
    stream: str


@dataclass(frozen=True)
class MessageReceived:
    """A peer message (``channel`` None) or a channel message. ``payload`` is the bytes as sent; ``text`` decodes
    them as UTF-8. ``backfilled``: delivered after a reconnect from what the server kept."""

    from_user: str
    channel: Optional[str]
    message_id: str
    payload: bytes
    backfilled: bool = False

    @property
    def text(self) -> str:
        """The payload as UTF-8 text (invalid bytes replaced by U+FFFD)."""
        return self.payload.decode("utf-8", errors="replace")

    @property
    def is_peer_message(self) -> bool:
        """True for a peer message (sent to this user rather than to a channel)."""
        return self.channel is None


@dataclass(frozen=True)
class ContinuityReport:
    """Sent after every reconnect: how long the link was down (``outage_ms``), whether the server kept the session
    (``resumed``), what is caught up (``backfilled``) and what is lost (``dropped``); ``server_restarted``: the
    server lost its history since the last login."""

    outage_ms: int
    resumed: bool
    backfilled: int
    dropped: int
    server_restarted: bool
    timings: Optional[AgreedTimings] = None
    recovered: bool = False  #: the first login recovered an earlier process's session with a recovery key


@dataclass(frozen=True)
class TokenPrivilegeWillExpire:
    """The token expires soon: renew it with Client.renew_token()."""


@dataclass(frozen=True)
class TokenExpired:
    """The token has expired."""


@dataclass(frozen=True)
class OperationCompleted:
    """An operation completed: exactly once for each id an operation call returned.

    ``error`` is ErrorCode.OK on success; ``attributes`` the user's attributes for a successful
    get_user_attributes(); ``stored_for_away_user``: a peer message kept by the server for a receiver that is
    away."""

    op: int
    kind: Union[OpKind, int]
    error: Union[ErrorCode, int] = ErrorCode.OK
    attributes: Optional[Dict[str, str]] = None
    stored_for_away_user: bool = False
    recovery_key: Optional[str] = None  #: recovery_key() on success: the key to store

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return int(self.error) == _ffi.OK

    @property
    def error_name(self) -> str:
        """The canonical name of ``error`` ("OK" on success)."""
        return canonical(self.error)

    def exception(self) -> Optional[RelinkError]:
        """The exception of a failed operation (None on success)."""
        return None if self.ok else error_from_code(int(self.error))


@dataclass(frozen=True)
class LinkQuality:
    """How good the link is (Client.link_quality(), LinkQualityChanged): the round trips of the heartbeats on the
    current connection (meaningless while ``rtt_samples`` is 0) and the time since the last data."""

    up: bool  #: a connection is logged in and usable
    rtt_samples: int  #: heartbeats answered on this connection
    rtt_us: int  #: smoothed round-trip time (RFC 6298 SRTT)
    rtt_var_us: int  #: its mean deviation (RTTVAR)
    last_rtt_us: int  #: the latest sample
    missed_heartbeats: int  #: heartbeats in a row unanswered when the next was due
    late_heartbeats: int  #: answers on this connection that came after the next heartbeat was due
    since_last_data_ms: Optional[int]  #: since the last data from the server; None before the first


@dataclass(frozen=True)
class LinkQualityChanged:
    """The link's quality changed meaningfully (the first round trip, a heartbeat missed or answered again, the
    smoothed RTT moved by 25 % and 20 ms); at most one per heartbeat interval."""

    quality: LinkQuality


def link_quality_from_c(s: Any) -> LinkQuality:
    """The link_* fields of a relink_event or relink_status."""
    return LinkQuality(
        up=bool(s.link_up),
        rtt_samples=s.link_rtt_samples,
        rtt_us=s.link_rtt_us,
        rtt_var_us=s.link_rtt_var_us,
        last_rtt_us=s.link_last_rtt_us,
        missed_heartbeats=s.link_missed_heartbeats,
        late_heartbeats=s.link_late_heartbeats,
        since_last_data_ms=None if s.link_since_last_data_ms < 0 else s.link_since_last_data_ms,
    )


@dataclass(frozen=True)
class AttemptSteps:
    """How long each step of one connection attempt took, in microseconds: None for a step the attempt did not
    reach, and for ``proxy`` without a proxy and ``tls`` for ws://."""

    dns_us: Optional[int]  #: resolving the server's (or the proxy's) name; ~0 for an address
    proxy_us: Optional[int]  #: the HTTP proxy's CONNECT tunnel
    tcp_us: Optional[int]  #: the TCP connection
    tls_us: Optional[int]  #: the TLS handshake
    websocket_us: Optional[int]  #: the WebSocket upgrade
    login_us: Optional[int]  #: from the login request to the server's answer (accepted or refused)
    tls_resumed: bool = False  #: the TLS handshake resumed an earlier TLS session (no full handshake)


@dataclass(frozen=True)
class AttemptFinished:
    """A connection attempt ended, logged in or failed: what each step took. One per attempt, in order (a failed
    attempt's comes right after its AttemptFailed); an attempt cut short by a logout or a network change has none.

    ``attempt``: which attempt of the login or outage (1, 2, ...); ``connected``: it logged in (``resumed``: and
    resumed the session); ``cause``: why it failed (as in AttemptFailed), None when connected; ``total_us``: from
    its start to its end."""

    attempt: int
    connected: bool
    resumed: bool
    cause: Optional[Union[AttemptFailure, int]]
    total_us: int
    steps: AttemptSteps


@dataclass(frozen=True)
class UnknownEvent:
    """An event type this binding does not know (a newer library): ``type`` is its number."""

    type: int = field(default=0)


Event = Union[
    ConnectionStateChanged,
    AttemptFailed,
    ConnectionLost,
    JoinSuccess,
    RejoinSuccess,
    ChannelStateChanged,
    MemberJoined,
    MemberLeft,
    StreamAdded,
    StreamRemoved,
    MessageReceived,
    ContinuityReport,
    TokenPrivilegeWillExpire,
    TokenExpired,
    OperationCompleted,
    LinkQualityChanged,
    AttemptFinished,
    UnknownEvent,
]


def _s(value: Optional[bytes]) -> str:
    return _ffi.text(value) or ""


def _failure(e: _ffi.relink_event) -> Optional[AttemptFailed]:
    if not e.has_last_failure:
        return None
    return AttemptFailed(e.failure_attempt, AttemptFailure.coerce(e.failure_cause), _s(e.failure_detail))


def _timings(e: _ffi.relink_event) -> Optional[AgreedTimings]:
    if not e.has_timings:
        return None
    return AgreedTimings(
        e.heartbeat_interval_ms,
        e.presence_timeout_ms,
        e.backfill_window_ms,
        e.backfill_count,
        bool(e.timings_clamped),
    )


def _attributes(e: _ffi.relink_event) -> Optional[Dict[str, str]]:
    if not e.attributes:
        return None if e.op_kind != _ffi.OP_GET_ATTRIBUTES or e.error != _ffi.OK else {}
    return {_s(e.attributes[i].name): _s(e.attributes[i].value) for i in range(e.attribute_count)}


def _step(us: int) -> Optional[int]:
    return None if us < 0 else us


def from_c(pointer: "ctypes._Pointer[_ffi.relink_event]") -> Event:
    """The dataclass of the event `pointer` points to, copied out of it (the pointer may end right after)."""
    e = pointer.contents
    kind = e.type
    if kind == _ffi.EVENT_CONNECTION_STATE_CHANGED:
        return ConnectionStateChanged(
            state=ConnectionState.coerce(e.state),
            previous_state=ConnectionState.coerce(e.previous_state),
            reason=ConnectionReason.coerce(e.reason),
            seq=e.seq,
            attempt=e.attempt,
            next_retry_ms=e.next_retry_ms,
            last_failure=_failure(e),
            timings=_timings(e),
        )
    if kind == _ffi.EVENT_ATTEMPT_FAILED:
        return AttemptFailed(e.attempt, AttemptFailure.coerce(e.failure_cause), _s(e.failure_detail))
    if kind == _ffi.EVENT_CONNECTION_LOST:
        return ConnectionLost()
    if kind == _ffi.EVENT_JOIN_SUCCESS:
        return JoinSuccess(_s(e.channel))
    if kind == _ffi.EVENT_REJOIN_SUCCESS:
        return RejoinSuccess()
    if kind == _ffi.EVENT_CHANNEL_STATE_CHANGED:
        return ChannelStateChanged(
            _s(e.channel), ChannelState.coerce(e.channel_state), ChannelReason.coerce(e.channel_reason),
            ErrorCode.coerce(e.error),
        )
    if kind == _ffi.EVENT_MEMBER_JOINED:
        return MemberJoined(_s(e.channel), _s(e.user_id))
    if kind == _ffi.EVENT_MEMBER_LEFT:
        return MemberLeft(_s(e.channel), _s(e.user_id), MemberLeftCause.coerce(e.member_left_cause))
    if kind == _ffi.EVENT_STREAM_ADDED:
        return StreamAdded(_s(e.channel), _s(e.user_id), _s(e.stream))
    if kind == _ffi.EVENT_STREAM_REMOVED:
        return StreamRemoved(_s(e.channel), _s(e.user_id), _s(e.stream))
    if kind == _ffi.EVENT_MESSAGE:
        payload = ctypes.string_at(e.payload, e.payload_size) if e.payload_size else b""
        return MessageReceived(
            from_user=_s(getattr(e, "from")),
            channel=_ffi.text(e.channel),
            message_id=_s(e.message_id),
            payload=payload,
            backfilled=bool(e.backfilled),
        )
    if kind == _ffi.EVENT_CONTINUITY:
        return ContinuityReport(
            outage_ms=e.outage_ms,
            resumed=bool(e.resumed),
            backfilled=e.backfilled_count,
            dropped=e.dropped_count,
            server_restarted=bool(e.server_restarted),
            timings=_timings(e),
            recovered=bool(e.recovered),
        )
    if kind == _ffi.EVENT_TOKEN_PRIVILEGE_WILL_EXPIRE:
        return TokenPrivilegeWillExpire()
    if kind == _ffi.EVENT_TOKEN_EXPIRED:
        return TokenExpired()
    if kind == _ffi.EVENT_OPERATION_COMPLETED:
        return OperationCompleted(
            op=e.op,
            kind=OpKind.coerce(e.op_kind),
            error=ErrorCode.coerce(e.error),
            attributes=_attributes(e),
            stored_for_away_user=bool(e.stored_for_away_user),
            recovery_key=_ffi.text(e.recovery_key),
        )
    if kind == _ffi.EVENT_LINK_QUALITY_CHANGED:
        return LinkQualityChanged(link_quality_from_c(e))
    if kind == _ffi.EVENT_ATTEMPT_FINISHED:
        return AttemptFinished(
            attempt=e.attempt,
            connected=bool(e.attempt_connected),
            resumed=bool(e.resumed),
            cause=None if e.attempt_connected else AttemptFailure.coerce(e.failure_cause),
            total_us=e.attempt_total_us,
            steps=AttemptSteps(
                dns_us=_step(e.attempt_dns_us),
                proxy_us=_step(e.attempt_proxy_us),
                tcp_us=_step(e.attempt_tcp_us),
                tls_us=_step(e.attempt_tls_us),
                websocket_us=_step(e.attempt_websocket_us),
                login_us=_step(e.attempt_login_us),
                tls_resumed=bool(e.attempt_tls_resumed),
            ),
        )
    return UnknownEvent(kind)
