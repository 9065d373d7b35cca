"""relink.client — ``Client``, the realtime connection of one user, over the C API's ``relink_client``.

A client is made in one of two modes, fixed for its lifetime (the C API's choice, made when the client is made):

* **queue mode** (the default): events wait in the library's queue until the app takes them, with
  ``client.events(timeout=...)`` (an iterator), ``client.next_event(timeout)`` or ``client.wait_for(...)``, on a
  thread of the app's choosing. Nothing runs on the library's threads except the log handler and the token
  provider.
* **callback mode** (``on_event=fn``, or ``callbacks=True`` and ``client.on_event(fn)`` later): every event is handed
  to each handler, in order, on the client's **dispatcher thread** (a thread of the library, which takes the GIL
  for the call). A handler must return quickly; it may call the client, and may even ``close()`` it. An exception
  it raises is logged (logger ``relink``) and does not stop the others.

Calls return at once (nothing waits for the network); their outcomes arrive as events. Operations (messages,
publish, attributes, token renewal) return an operation id, completed later by exactly one ``OperationCompleted``
with that ``op``; each also has an ``*_async`` twin returning a ``concurrent.futures.Future`` resolved by that
completion (in queue mode, when the app takes the completion from the queue).

Errors raise ``relink.RelinkError`` subclasses (relink/errors.py). ``with relink.Client(...) as client:`` closes
the client at the end of the block; ``close()`` logs out if needed and stops the client in bounded time (about
3 s at worst). Methods may be called from any thread.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import _ffi
from .errors import ConfigError, MisuseError, check, error_from_code
from .events import AttemptFailed, Event, LinkQuality, OperationCompleted, from_c, link_quality_from_c
from .types import (
    AttemptFailure,
    ChannelState,
    ConnectionReason,
    ConnectionState,
    ErrorCode,
    LogLevel,
    Profile,
)

_log = logging.getLogger("relink")

EventHandler = Callable[[Event], None]
LogHandler = Callable[[LogLevel, str], None]
TokenProvider = Callable[[], Optional[str]]
EventT = TypeVar("EventT")

#: Names accepted in ``Client(timings={...})``: each overrides one of the profile's defaults (milliseconds).
TIMINGS: Dict[str, int] = {
    "login_timeout": _ffi.TIMING_LOGIN_TIMEOUT,
    "interrupted_after": _ffi.TIMING_INTERRUPTED_AFTER,
    "lost_after": _ffi.TIMING_LOST_AFTER,
    "give_up_after": _ffi.TIMING_GIVE_UP_AFTER,
    "heartbeat_interval": _ffi.TIMING_HEARTBEAT_INTERVAL,
    "attempt_timeout": _ffi.TIMING_ATTEMPT_TIMEOUT,
    "backoff_initial": _ffi.TIMING_BACKOFF_INITIAL,
    "backoff_max": _ffi.TIMING_BACKOFF_MAX,
    "stable_after": _ffi.TIMING_STABLE_AFTER,
    "message_timeout": _ffi.TIMING_MESSAGE_TIMEOUT,
    "leave_timeout": _ffi.TIMING_LEAVE_TIMEOUT,
    "token_warning_lead": _ffi.TIMING_TOKEN_WARNING_LEAD,
    "presence_timeout": _ffi.TIMING_PRESENCE_TIMEOUT,
    "backfill_window": _ffi.TIMING_BACKFILL_WINDOW,
    "retry_probe_interval": _ffi.TIMING_RETRY_PROBE_INTERVAL,
    "retry_probe_window": _ffi.TIMING_RETRY_PROBE_WINDOW,
}

# The longest single wait inside the library when the app waits longer: close() from another thread is noticed
# within it.
_WAIT_SLICE_S = 0.2
# Live clients, closed at interpreter exit: the library's threads must not call into an interpreter that is gone.
_live: "weakref.WeakSet[Client]" = weakref.WeakSet()


@atexit.register
def _close_live_clients() -> None:
    for client in list(_live):
        client.close()


class ClientClosedError(MisuseError):
    """A call on a client after close() (the C API's NULL handle: INVALID_ARGUMENT)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_ARGUMENT, "the client is closed")


@dataclass(frozen=True)
class Status:
    """The connection status at the moment it was read (Client.status())."""

    state: Union[ConnectionState, int]
    reason: Union[ConnectionReason, int]  #: LOGOUT before any change
    attempt: int  #: attempts in the current login or outage
    next_retry_ms: int  #: until the next scheduled attempt; 0 when none
    in_state_ms: int  #: since the latest state change
    last_failure: Optional[AttemptFailed]  #: the last failed attempt since the last successful login
    tls_full_handshakes: int
    tls_resumed_handshakes: int
    link_quality: Optional[LinkQuality] = None  #: the link's quality at the moment of the read


def _bool(value: Any) -> int:
    return 1 if value else 0


def _payload(payload: Union[bytes, bytearray, memoryview, str]) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise TypeError(f"a payload is bytes or str, not {type(payload).__name__}")


def _enum_arg(cls: Type[Any], value: Union[str, int], what: str) -> int:
    if isinstance(value, str):
        try:
            return int(cls.from_name(value))
        except ValueError:
            names = ", ".join(str(m) for m in cls)
            raise ConfigError(what, f"{what}: {value!r} is none of {names}") from None
    return int(value)


class Client:
    """The realtime connection of one user: login, channels, messages, streams, attributes, tokens.

    Args:
        url: ``wss://host[:port]/path`` (``ws://`` only with ``allow_plaintext``, on loopback).
        app_id, user_id, token: who logs in, and the token that proves it (relink.token.mint() for tests).
        profile: "rtm" (default), "rtc", "rtc-web" or "room" (or a ``Profile``).
        time_scale: multiplies every client-side duration (tests, demos); > 0.
        allow_plaintext: permit ``ws://`` (loopback development).
        ca_file, ca_directory: trust these certificates (PEM file, or a hashed directory).
        use_system_store: also trust the system's store (None: the library's default).
        verify_peer: verify the server's certificate chain and host name (on by default; off only in tests).
        proxy: ``(host, port)`` of an HTTP CONNECT proxy.
        log_level: "TRACE" ... "OFF" (default "WARN").
        log_handler: receives ``(LogLevel, line)`` on the client's threads; None: the ``relink`` logger.
        max_queued_operations, seed, backfill_count: as relink/client.hpp's ClientConfig.
        recover_key: a key from recovery_key() of an earlier process: the first login recovers that session.
        timings: overrides of the profile's timings in milliseconds, by name (see ``TIMINGS``).
        backoff: ``(multiplier, jitter)`` of the reconnect backoff.
        token_provider: asked for a fresh token before a reconnect when the current one expired (on the client's
            io thread: return quickly); returns the token, or None to keep the current one.
        on_event: makes the client in callback mode with this handler (see the module's docstring).
        callbacks: makes the client in callback mode even without a handler yet (add them with on_event()).

    Raises:
        ConfigError: a configuration that cannot work; ``field`` names the setting ("url", "app_id", ...).
        relink.LibraryError: librelink cannot be loaded (set RELINK_LIBRARY to its path).
    """

    def __init__(
        self,
        url: str,
        app_id: str,
        user_id: str,
        token: str = "",
        *,
        profile: Union[str, Profile] = "rtm",
        time_scale: float = 1.0,
        allow_plaintext: bool = False,
        ca_file: Optional[str] = None,
        ca_directory: Optional[str] = None,
        use_system_store: Optional[bool] = None,
        verify_peer: bool = True,
        proxy: Optional[Tuple[str, int]] = None,
        log_level: Union[str, LogLevel] = LogLevel.WARN,
        log_handler: Optional[LogHandler] = None,
        max_queued_operations: Optional[int] = None,
        seed: Optional[int] = None,
        recover_key: Optional[str] = None,
        timings: Optional[Mapping[str, int]] = None,
        backoff: Optional[Tuple[float, float]] = None,
        backfill_count: Optional[int] = None,
        token_provider: Optional[TokenProvider] = None,
        on_event: Optional[EventHandler] = None,
        callbacks: bool = False,
    ) -> None:
        self._handle: Optional[int] = None  # set last: __del__ and close() must cope with a failed constructor
        self._lib = _ffi.lib()
        self._state_lock = threading.Condition()
        self._busy = 0  # calls into the library in progress (close() waits for them)
        self._closing = False
        self._handlers: List[EventHandler] = [on_event] if on_event is not None else []
        self._callback_mode = on_event is not None or callbacks
        self._futures: Dict[int, "concurrent.futures.Future[OperationCompleted]"] = {}
        self._futures_lock = threading.Lock()
        self.user_id = user_id

        # The C callbacks hold the client weakly (no cycle through the library); the objects themselves live as
        # long as the client, since the library calls them until relink_client_free() returns.
        me = weakref.ref(self)
        self._event_callback = _ffi.relink_event_callback(lambda _ud, event: _on_event(me, event))
        self._log_callback = _ffi.relink_log_callback(_make_log_callback(log_handler))
        self._token_callback = (
            _ffi.relink_token_provider(_make_token_provider(token_provider)) if token_provider else None
        )

        lib = self._lib
        config = lib.relink_config_new()
        if not config:
            raise MemoryError("relink_config_new")
        try:

            def setter(field: str, code: int) -> None:
                if code != _ffi.OK:
                    raise ConfigError(field, f"{field}: the value cannot be used ({ErrorCode.coerce(code)})")

            setter("url", lib.relink_config_set_url(config, _ffi.encode(url, "url")))
            setter("allow_plaintext", lib.relink_config_set_allow_plaintext(config, _bool(allow_plaintext)))
            setter("app_id", lib.relink_config_set_app_id(config, _ffi.encode(app_id, "app_id")))
            setter("user_id", lib.relink_config_set_user_id(config, _ffi.encode(user_id, "user_id")))
            setter("token", lib.relink_config_set_token(config, _ffi.encode(token, "token")))
            setter("profile", lib.relink_config_set_profile(config, _enum_arg(Profile, profile, "profile")))
            if not isinstance(time_scale, (int, float)) or not time_scale > 0:
                raise ConfigError("time_scale", f"time_scale: must be a number > 0, not {time_scale!r}")
            setter("time_scale", lib.relink_config_set_time_scale(config, float(time_scale)))
            setter("tls.verify_peer", lib.relink_config_set_tls_verify_peer(config, _bool(verify_peer)))
            if ca_file is not None:
                setter("tls.ca_file", lib.relink_config_set_tls_ca_file(config, _ffi.encode(ca_file, "ca_file")))
            if ca_directory is not None:
                setter(
                    "tls.ca_directory",
                    lib.relink_config_set_tls_ca_directory(config, _ffi.encode(ca_directory, "ca_directory")),
                )
            if use_system_store is not None:
                setter("tls.use_system_store", lib.relink_config_set_tls_use_system_store(config, _bool(use_system_store)))
            if proxy is not None:
                host, port = proxy
                setter("proxy", lib.relink_config_set_proxy(config, _ffi.encode(host, "proxy host"), int(port)))
            setter("log_level", lib.relink_config_set_log_level(config, _enum_arg(LogLevel, log_level, "log_level")))
            setter("log_handler", lib.relink_config_set_log_callback(config, self._log_callback, None))
            if max_queued_operations is not None:
                setter(
                    "max_queued_operations",
                    lib.relink_config_set_max_queued_operations(config, int(max_queued_operations)),
                )
            if seed is not None:
                setter("seed", lib.relink_config_set_seed(config, int(seed)))
            if recover_key is not None:
                setter("recover_key", lib.relink_config_set_recover_key(config, _ffi.encode(recover_key, "recover_key")))
            for name, milliseconds in (timings or {}).items():
                if name not in TIMINGS:
                    raise ConfigError("timings", f"timings: {name!r} is none of {', '.join(TIMINGS)}")
                setter(f"timings.{name}", lib.relink_config_set_timing_ms(config, TIMINGS[name], int(milliseconds)))
            if backoff is not None:
                setter("backoff", lib.relink_config_set_backoff_shape(config, float(backoff[0]), float(backoff[1])))
            if backfill_count is not None:
                setter("backfill_count", lib.relink_config_set_backfill_count(config, int(backfill_count)))
            if self._token_callback is not None:
                setter("token_provider", lib.relink_config_set_token_provider(config, self._token_callback, None))
            if self._callback_mode:
                setter("on_event", lib.relink_config_set_event_callback(config, self._event_callback, None))

            handle = _ffi.relink_client_p()
            why = ctypes.create_string_buffer(512)
            code = lib.relink_client_new(config, ctypes.byref(handle), why, len(why))
            if code == _ffi.E_INVALID_ARGUMENT:
                message = _ffi.text(why.value) or "the configuration cannot be used"
                raise ConfigError(message.split(":", 1)[0].strip() if ":" in message else "config", message)
            check(code)
            if not handle.value:
                raise error_from_code(_ffi.E_INTERNAL, "relink_client_new returned no client")
        finally:
            lib.relink_config_free(config)
        self._handle = handle.value
        _live.add(self)

    # ------------------------------------------------------------------------------------------- lifetime

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    @property
    def closed(self) -> bool:
        """True once close() has begun."""
        return self._handle is None

    def close(self) -> None:
        """Logs out if needed and stops the client, in bounded time (about 3 s at worst). After it returns no
        handler runs. Idempotent; may be called from a handler (callback mode) and from any thread: calls in
        progress on other threads are let finish first, later calls raise ClientClosedError."""
        with self._state_lock:
            handle = self._handle
            if handle is None:
                return
            self._handle = None  # new calls are refused from here on
            while self._busy:
                self._state_lock.wait()
        _live.discard(self)
        self._lib.relink_client_free(handle)
        with self._futures_lock:
            pending, self._futures = self._futures, {}
        for future in pending.values():
            future.cancel()

    def _enter(self) -> int:
        with self._state_lock:
            if self._handle is None:
                raise ClientClosedError()
            self._busy += 1
            return self._handle

    def _leave(self) -> None:
        with self._state_lock:
            self._busy -= 1
            if not self._busy:
                self._state_lock.notify_all()

    def _call(self, name: str, *args: Any) -> int:
        """Calls relink_client_<name>(handle, *args) and returns its code (the handle kept alive meanwhile)."""
        handle = self._enter()
        try:
            return int(getattr(self._lib, "relink_client_" + name)(handle, *args))
        finally:
            self._leave()

    def _run(self, name: str, *args: Any) -> None:
        check(self._call(name, *args))

    def _operation(self, name: str, *args: Any) -> int:
        op = ctypes.c_uint64(0)
        check(self._call(name, *args, ctypes.byref(op)))
        return op.value

    def _operation_future(self, name: str, *args: Any) -> "concurrent.futures.Future[OperationCompleted]":
        future: "concurrent.futures.Future[OperationCompleted]" = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        # Held across the call: the completion may be delivered on the dispatcher thread before the call's
        # result is back here, and must find the future.
        with self._futures_lock:
            op = self._operation(name, *args)
            self._futures[op] = future
        return future

    # -------------------------------------------------------------------------------------------- session

    def login(self) -> None:
        """Starts the session (CONNECTING, then CONNECTED or a failure, as events). Raises e.g. MisuseError
        ALREADY_LOGGED_IN."""
        self._run("login")

    def logout(self) -> None:
        """Ends the session (DISCONNECTED LOGOUT as an event); pending operations complete LOGGED_OUT."""
        self._run("logout")

    def join(self, channel: str) -> None:
        """Joins a channel (ChannelStateChanged events tell the outcome). In rtc and rtc-web it starts the session
        when logged out."""
        self._run("join", _ffi.encode(channel, "channel"))

    def leave(self, channel: str) -> None:
        """Leaves a channel."""
        self._run("leave", _ffi.encode(channel, "channel"))

    def switch_channel(self, from_channel: str, to_channel: str) -> None:
        """Leaves one channel and joins another."""
        self._run("switch_channel", _ffi.encode(from_channel, "from_channel"), _ffi.encode(to_channel, "to_channel"))

    def notify_network_changed(self) -> None:
        """The local network changed (Wi-Fi to cellular ...): the link is checked at once (one heartbeat) and
        reconnects (CLIENT_IP_ADDRESS_CHANGED) only if it does not answer; without a live link, reconnect at once."""
        self._run("notify_network_changed")

    def notify_foreground(self) -> None:
        """The app returned to the foreground: the link is checked at once (one heartbeat); a dead one reconnects."""
        self._run("notify_foreground")

    def link_quality(self) -> LinkQuality:
        """The link's quality now (round-trip time of the heartbeats, missed heartbeats, time since the last data)."""
        quality = self.status().link_quality
        assert quality is not None
        return quality

    def set_proxy(self, host: Optional[str], port: int = 0) -> None:
        """Uses another HTTP CONNECT proxy (host None: none); reconnects when connected."""
        self._run("set_proxy", None if host is None else _ffi.encode(host, "host"), int(port))

    # ----------------------------------------------------------------------------------------- operations

    def send_peer_message(
        self, user_id: str, payload: Union[bytes, str], *, store_offline: bool = False
    ) -> int:
        """Sends a message to one user (str is sent as UTF-8). ``store_offline``: the server keeps it for a
        receiver that is not logged in (instead of PEER_OFFLINE). Returns the operation id."""
        data = _payload(payload)
        flags = _ffi.SEND_STORE_OFFLINE if store_offline else 0
        return self._operation("send_peer_message", _ffi.encode(user_id, "user_id"), data, len(data), flags)

    def send_channel_message(self, channel: str, payload: Union[bytes, str]) -> int:
        """Sends a message to every member of a joined channel. Returns the operation id."""
        data = _payload(payload)
        return self._operation("send_channel_message", _ffi.encode(channel, "channel"), data, len(data))

    def publish(self, channel: str, stream: str) -> int:
        """Announces a stream in a joined channel. Returns the operation id."""
        return self._operation("publish", _ffi.encode(channel, "channel"), _ffi.encode(stream, "stream"))

    def unpublish(self, channel: str, stream: str) -> int:
        """Withdraws a stream. Returns the operation id."""
        return self._operation("unpublish", _ffi.encode(channel, "channel"), _ffi.encode(stream, "stream"))

    def set_local_user_attributes(self, attributes: Mapping[str, str]) -> int:
        """Replaces this user's attributes. Returns the operation id."""
        items = list(attributes.items())
        array = (_ffi.relink_attribute * max(len(items), 1))()
        keep = []  # the encoded strings must outlive the call
        for i, (name, value) in enumerate(items):
            n, v = _ffi.encode(name, "attribute name"), _ffi.encode(value, "attribute value")
            keep.append((n, v))
            array[i].name, array[i].value = n, v
        return self._operation("set_local_user_attributes", array if items else None, len(items))

    def get_user_attributes(self, user_id: str) -> int:
        """Reads another user's attributes: they arrive in the OperationCompleted (``attributes``)."""
        return self._operation("get_user_attributes", _ffi.encode(user_id, "user_id"))

    def recovery_key(self) -> int:
        """Asks for a recovery key of this session: it arrives in the OperationCompleted (``recovery_key``)."""
        return self._operation("recovery_key")

    def renew_token(self, token: str) -> int:
        """Gives the client a fresh token (before the current one expires). Returns the operation id."""
        return self._operation("renew_token", _ffi.encode(token, "token"))

    # The same operations, each returning a Future resolved by its OperationCompleted (the event itself on
    # success; a RelinkError on failure). In queue mode the future resolves when the app takes the completion
    # from the queue (events(), next_event(), wait_for()).

    def send_peer_message_async(
        self, user_id: str, payload: Union[bytes, str], *, store_offline: bool = False
    ) -> "concurrent.futures.Future[OperationCompleted]":
        """send_peer_message(), completed as a Future."""
        data = _payload(payload)
        flags = _ffi.SEND_STORE_OFFLINE if store_offline else 0
        return self._operation_future("send_peer_message", _ffi.encode(user_id, "user_id"), data, len(data), flags)

    def send_channel_message_async(
        self, channel: str, payload: Union[bytes, str]
    ) -> "concurrent.futures.Future[OperationCompleted]":
        """send_channel_message(), completed as a Future."""
        data = _payload(payload)
        return self._operation_future("send_channel_message", _ffi.encode(channel, "channel"), data, len(data))

    def get_user_attributes_async(self, user_id: str) -> "concurrent.futures.Future[OperationCompleted]":
        """get_user_attributes(), completed as a Future (its result's ``attributes``)."""
        return self._operation_future("get_user_attributes", _ffi.encode(user_id, "user_id"))

    def submit(self, operation: Callable[..., int], *args: Any, **kwargs: Any) -> "concurrent.futures.Future[OperationCompleted]":
        """Runs any operation method of this client (``client.submit(client.publish, "ch", "cam")``) and returns
        a Future resolved by its completion."""
        future: "concurrent.futures.Future[OperationCompleted]" = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        with self._futures_lock:
            op = operation(*args, **kwargs)
            self._futures[op] = future
        return future

    # --------------------------------------------------------------------------------------- observations

    @property
    def connection_state(self) -> Union[ConnectionState, int]:
        """The current connection state, as the client last decided it."""
        return ConnectionState.coerce(self._call("connection_state"))

    def channel_state(self, channel: str) -> Optional[Union[ChannelState, int]]:
        """A channel's state, or None when it is not joined (never joined, left, failed)."""
        state = ctypes.c_int(0)
        code = self._call("channel_state", _ffi.encode(channel, "channel"), ctypes.byref(state))
        if code == _ffi.E_NOT_JOINED:
            return None
        check(code)
        return ChannelState.coerce(state.value)

    def status(self) -> Status:
        """The connection status at the moment of the call ("retrying in 3 s ..." lines)."""
        pointer = ctypes.POINTER(_ffi.relink_status)()
        check(self._call("status", ctypes.byref(pointer)))
        try:
            s = pointer.contents
            failure = (
                AttemptFailed(s.failure_attempt, AttemptFailure.coerce(s.failure_cause), _ffi.text(s.failure_detail) or "")
                if s.has_last_failure
                else None
            )
            return Status(
                state=ConnectionState.coerce(s.state),
                reason=ConnectionReason.coerce(s.reason),
                attempt=s.attempt,
                next_retry_ms=s.next_retry_ms,
                in_state_ms=s.in_state_ms,
                last_failure=failure,
                tls_full_handshakes=s.tls_full_handshakes,
                tls_resumed_handshakes=s.tls_resumed_handshakes,
                link_quality=link_quality_from_c(s),
            )
        finally:
            self._lib.relink_status_free(pointer)

    def metrics_prometheus(self, prefix: Optional[str] = None, labels: Optional[str] = None) -> str:
        """The client's metrics since it was made (connection attempts by outcome and cause, each attempt step's
        duration, heartbeat round trips, state changes, reconnects, messages) in Prometheus' text format, for a
        /metrics page: counters ``<prefix>_..._total`` (prefix None: "relink_client"), histograms in seconds;
        ``labels`` (already escaped, e.g. ``'app="chat"'``) are added to every sample."""
        encoded_prefix = None if prefix is None else _ffi.encode(prefix, "prefix")
        encoded_labels = None if labels is None else _ffi.encode(labels, "labels")
        needed = ctypes.c_size_t(0)
        size = 16384
        for _ in range(8):  # the text grows between two calls only as its counters do
            buffer = ctypes.create_string_buffer(size)
            code = self._call(
                "metrics_prometheus", encoded_prefix, encoded_labels, buffer, size, ctypes.byref(needed)
            )
            if code == _ffi.OK:
                return buffer.value.decode("utf-8", errors="replace")
            if code != _ffi.E_INVALID_ARGUMENT or needed.value <= size:
                check(code)
            size = needed.value + 4096
        raise error_from_code(_ffi.E_INTERNAL, "the metrics kept outgrowing their buffer")

    # ------------------------------------------------------------------------------------ callback mode

    @property
    def callback_mode(self) -> bool:
        """True for a client made in callback mode (events go to handlers), False in queue mode."""
        return self._callback_mode

    def on_event(self, handler: EventHandler) -> EventHandler:
        """Adds an event handler (callback mode only); usable as a decorator. Handlers run on the client's
        dispatcher thread, in the order they were added. Raises MisuseError on a queue-mode client."""
        if not self._callback_mode:
            raise MisuseError(
                ErrorCode.INVALID_ARGUMENT,
                "this client was made in queue mode: pass on_event= (or callbacks=True) to Client() for handlers",
            )
        self._handlers = self._handlers + [handler]  # replaced, never mutated: the dispatcher iterates a snapshot
        return handler

    def _dispatch(self, event: Event) -> None:
        """Every event, in either mode: resolves its operation's future, then (callback mode) runs the handlers."""
        if isinstance(event, OperationCompleted):
            with self._futures_lock:
                future = self._futures.pop(event.op, None)
            if future is not None:
                failure = event.exception()
                if failure is None:
                    future.set_result(event)
                else:
                    future.set_exception(failure)
        if self._callback_mode:
            for handler in self._handlers:
                try:
                    handler(event)
                except Exception:
                    _log.exception("relink: an event handler raised (ignored)")

    # --------------------------------------------------------------------------------------- queue mode

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Takes the next event from the queue, waiting at most `timeout` seconds (None: without limit; 0: not at
        all). Returns None when none came in time, or when the client is closed meanwhile. Queue mode only
        (MisuseError INVALID_ARGUMENT in callback mode)."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            left = _WAIT_SLICE_S if deadline is None else min(_WAIT_SLICE_S, max(deadline - time.monotonic(), 0.0))
            pointer = ctypes.POINTER(_ffi.relink_event)()
            try:
                handle = self._enter()
            except ClientClosedError:
                return None
            try:
                code = self._lib.relink_client_next_event(handle, int(left * 1000), ctypes.byref(pointer))
                if code != _ffi.OK:
                    raise error_from_code(code, "next_event() needs a client made in queue mode" if code == _ffi.E_INVALID_ARGUMENT else None)
                if pointer:
                    try:
                        event = from_c(pointer)
                    finally:
                        self._lib.relink_event_free(pointer)
                    self._dispatch(event)
                    return event
            finally:
                self._leave()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterates over events as they come (queue mode). Ends after `timeout` seconds without an event (None:
        never), or when the client is closed."""
        while True:
            event = self.next_event(timeout)
            if event is None:
                return
            yield event

    def wait_for(
        self,
        kind: Union[Type[EventT], Tuple[Type[Any], ...]],
        predicate: Optional[Callable[[Any], bool]] = None,
        timeout: float = 10.0,
    ) -> EventT:
        """Takes events from the queue until one of type `kind` (and satisfying `predicate`) comes, and returns
        it; the events before it are dropped. Raises TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            event = self.next_event(left) if left > 0 else None
            if event is None:
                raise TimeoutError(f"no {getattr(kind, '__name__', kind)} within {timeout} s")
            if isinstance(event, kind) and (predicate is None or predicate(event)):
                return event  # type: ignore[return-value]


def _on_event(me: "weakref.ref[Client]", pointer: Any) -> None:
    """The C event callback (callback mode), on the client's dispatcher thread."""
    client = me()
    if client is None:
        return
    try:
        event = from_c(pointer)
    except Exception:
        _log.exception("relink: an event could not be read")
        return
    client._dispatch(event)


_LOGGING_LEVELS: Dict[int, int] = {
    LogLevel.TRACE: logging.DEBUG,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


def _make_log_callback(handler: Optional[LogHandler]) -> Callable[[Any, int, Any, int], None]:
    def callback(_user_data: Any, level: int, line: Any, size: int) -> None:
        try:
            text = ctypes.string_at(line, size).decode("utf-8", errors="replace")
            log_level = LogLevel.coerce(level)
            if handler is None:
                _log.log(_LOGGING_LEVELS.get(int(log_level), logging.WARNING), "%s", text)
            else:
                handler(log_level, text)  # type: ignore[arg-type]
        except Exception:
            _log.exception("relink: the log handler raised (ignored)")

    return callback


def _make_token_provider(provider: TokenProvider) -> Callable[[Any, Any, int], int]:
    pending: List[bytes] = []  # a token that did not fit: handed out when asked again with a larger buffer

    def callback(_user_data: Any, buffer: Any, capacity: int) -> int:
        try:
            if pending:
                token = pending.pop()
            else:
                fresh = provider()
                if not fresh:
                    return 0
                token = fresh.encode("utf-8")
            if len(token) + 1 > capacity:
                pending.append(token)
                return len(token)
            ctypes.memmove(buffer, token + b"\0", len(token) + 1)
            return len(token)
        except Exception:
            _log.exception("relink: the token provider raised (the current token is kept)")
            return 0

    return callback
