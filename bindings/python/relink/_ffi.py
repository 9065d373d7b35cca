"""relink._ffi — the C ABI of ``relink/relink.h`` as ctypes declarations, and the loading of librelink.

Everything here mirrors the header one to one: the constants, the two library-allocated structs
(``relink_event`` and ``relink_status``, field by field and in the header's order), the callback types and every
function with its argument and result types. The rest of the package never calls the library except through
``lib``, the loaded and declared ``ctypes.CDLL``.

Where the library comes from, in this order:

1. the environment variable ``RELINK_LIBRARY``: a path to ``librelink.so`` (or ``librelink.so.1``);
2. ``librelink.so.1`` beside this package (a copy vendored into an app);
3. ``librelink.so.1`` through the system's loader (``LD_LIBRARY_PATH``, ``ldconfig``'s cache: an installed relink);
4. the repository's own build trees (``build/dev/lib``, ``build/release/lib``), for a checkout used in place.

The ABI version of the loaded library must equal ``ABI_VERSION`` (the one this file was written against).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

#: The ABI major version this module declares (RELINK_ABI_VERSION in relink.h).
ABI_VERSION = 1
#: The file name the system's loader knows the library by (its SONAME).
SONAME = "librelink.so.1"

# ----------------------------------------------------------------------------------------------- constants
# The header's numbers, copied: tests/test_header.py checks every one against a parse of relink.h.

OK = 0
E_NOT_LOGGED_IN = 1
E_ALREADY_LOGGED_IN = 2
E_INVALID_ARGUMENT = 3
E_INVALID_CHANNEL_NAME = 4
E_INVALID_USER_ID = 5
E_NOT_JOINED = 6
E_ALREADY_JOINED = 7
E_PAYLOAD_TOO_LARGE = 8
E_UNKNOWN_CHANNEL = 9
E_QUEUE_FULL = 20
E_RATE_LIMITED = 21
E_SEND_TIMEOUT = 22
E_ACK_TIMEOUT = 23
E_NETWORK_TIMEOUT = 24
E_NETWORK_INTERRUPTED = 25
E_LOGIN_TIMEOUT = 26
E_LIMIT_EXCEEDED = 27
E_INVALID_TOKEN = 40
E_TOKEN_EXPIRED = 41
E_INVALID_APP_ID = 42
E_BANNED_BY_SERVER = 43
E_REMOTE_LOGIN = 44
E_REJECTED_BY_SERVER = 45
E_LOGIN_FAILURE = 46
E_PEER_OFFLINE = 47
E_GAVE_UP = 48
E_PROTOCOL_ERROR = 49
E_RECOVERY_EXPIRED = 50
E_RECOVERY_USED = 51
E_RECOVERY_INVALID = 52
E_RECOVERY_WRONG_USER = 53
E_LOGGED_OUT = 60
E_SESSION_ABORTED = 61
E_SESSION_FAILED = 62
E_CHANNEL_LEFT = 63
E_INTERNAL = 99

CONDITION_NONE = 0
CONDITION_TRANSIENT = 1
CONDITION_FATAL = 2
CONDITION_CANCELLED = 3
CONDITION_MISUSE = 4

STATE_DISCONNECTED = 1
STATE_CONNECTING = 2
STATE_CONNECTED = 3
STATE_RECONNECTING = 4
STATE_FAILED = 5
STATE_ABORTED = 6
STATE_DISCONNECTING = 7

REASON_CONNECTING = 0
REASON_JOIN_SUCCESS = 1
REASON_INTERRUPTED = 2
REASON_BANNED_BY_SERVER = 3
REASON_JOIN_FAILED = 4
REASON_LEAVE_CHANNEL = 5
REASON_INVALID_APP_ID = 6
REASON_INVALID_CHANNEL_NAME = 7
REASON_INVALID_TOKEN = 8
REASON_TOKEN_EXPIRED = 9
REASON_REJECTED_BY_SERVER = 10
REASON_SETTING_PROXY_SERVER = 11
REASON_RENEW_TOKEN = 12
REASON_CLIENT_IP_ADDRESS_CHANGED = 13
REASON_KEEP_ALIVE_TIMEOUT = 14
REASON_REJOIN_SUCCESS = 15
REASON_LOST = 16
REASON_LOGIN = 100
REASON_LOGIN_SUCCESS = 101
REASON_LOGIN_FAILURE = 102
REASON_LOGIN_TIMEOUT = 103
REASON_LOGOUT = 104
REASON_REMOTE_LOGIN = 105
REASON_RECOVERY_REFUSED = 106

CHANNEL_DISCONNECTED = 0
CHANNEL_CONNECTING = 1
CHANNEL_CONNECTED = 2

CHANNEL_REASON_JOINING = 0
CHANNEL_REASON_JOINED = 1
CHANNEL_REASON_JOIN_FAILED = 2
CHANNEL_REASON_REJOINING = 3
CHANNEL_REASON_REJOINED = 4
CHANNEL_REASON_REJOIN_FAILED = 5
CHANNEL_REASON_KICKED_OUT = 6
CHANNEL_REASON_LEFT = 7
CHANNEL_REASON_LEAVE_FAILED = 8

MEMBER_LEFT_QUIT = 0
MEMBER_LEFT_DROPPED = 1
MEMBER_LEFT_KICKED = 2

ATTEMPT_DNS = 0
ATTEMPT_REFUSED = 1
ATTEMPT_TIMEOUT = 2
ATTEMPT_NETWORK = 3
ATTEMPT_PROXY = 4
ATTEMPT_TLS = 5
ATTEMPT_CERTIFICATE = 6
ATTEMPT_HTTP = 7
ATTEMPT_PROTOCOL = 8
ATTEMPT_CLOSED = 9
ATTEMPT_SERVER = 10
ATTEMPT_CONFIG = 11
ATTEMPT_BUSY = 12

PROFILE_RTM = 0
PROFILE_RTC = 1
PROFILE_RTC_WEB = 2
PROFILE_ROOM = 3

LOG_TRACE = 0
LOG_DEBUG = 1
LOG_INFO = 2
LOG_WARN = 3
LOG_ERROR = 4
LOG_OFF = 5

EVENT_CONNECTION_STATE_CHANGED = 1
EVENT_CONNECTION_LOST = 2
EVENT_JOIN_SUCCESS = 3
EVENT_REJOIN_SUCCESS = 4
EVENT_CHANNEL_STATE_CHANGED = 5
EVENT_MEMBER_JOINED = 6
EVENT_MEMBER_LEFT = 7
EVENT_STREAM_ADDED = 8
EVENT_STREAM_REMOVED = 9
EVENT_MESSAGE = 10
EVENT_CONTINUITY = 11
EVENT_TOKEN_PRIVILEGE_WILL_EXPIRE = 12
EVENT_TOKEN_EXPIRED = 13
EVENT_OPERATION_COMPLETED = 14
EVENT_ATTEMPT_FAILED = 15
EVENT_LINK_QUALITY_CHANGED = 16
EVENT_ATTEMPT_FINISHED = 17

OP_PEER_MESSAGE = 0
OP_CHANNEL_MESSAGE = 1
OP_PUBLISH = 2
OP_UNPUBLISH = 3
OP_SET_ATTRIBUTES = 4
OP_GET_ATTRIBUTES = 5
OP_RENEW_TOKEN = 6
OP_RECOVERY_KEY = 7

SEND_STORE_OFFLINE = 1

TIMING_LOGIN_TIMEOUT = 0
TIMING_INTERRUPTED_AFTER = 1
TIMING_LOST_AFTER = 2
TIMING_GIVE_UP_AFTER = 3
TIMING_HEARTBEAT_INTERVAL = 4
TIMING_ATTEMPT_TIMEOUT = 5
TIMING_BACKOFF_INITIAL = 6
TIMING_BACKOFF_MAX = 7
TIMING_STABLE_AFTER = 8
TIMING_MESSAGE_TIMEOUT = 9
TIMING_LEAVE_TIMEOUT = 10
TIMING_TOKEN_WARNING_LEAD = 11
TIMING_PRESENCE_TIMEOUT = 12
TIMING_BACKFILL_WINDOW = 13
TIMING_RETRY_PROBE_INTERVAL = 14
TIMING_RETRY_PROBE_WINDOW = 15

# ------------------------------------------------------------------------------------------------- structs


class relink_attribute(Structure):
    """``relink_attribute``: one attribute of a user (both strings NUL-terminated UTF-8)."""

    _fields_ = [
        ("name", c_char_p),
        ("value", c_char_p),
    ]


# The link's quality, at the end of both relink_event (LINK_QUALITY_CHANGED) and relink_status, in the header's order.
_LINK_QUALITY_FIELDS = [
    ("link_up", c_int),
    ("link_rtt_samples", c_uint64),
    ("link_rtt_us", c_int64),
    ("link_rtt_var_us", c_int64),
    ("link_last_rtt_us", c_int64),
    ("link_missed_heartbeats", c_uint32),
    ("link_late_heartbeats", c_uint64),
    ("link_since_last_data_ms", c_int64),
]


class relink_event(Structure):
    """``relink_event``, field by field in the header's order. Library-allocated: only ever read through a pointer
    the library handed out, never made or copied by Python (the library may add fields at the end)."""

    _fields_ = [
        ("type", c_int),
        # CONNECTION_STATE_CHANGED, ATTEMPT_FAILED
        ("state", c_int),
        ("previous_state", c_int),
        ("reason", c_int),
        ("seq", c_uint64),
        ("attempt", c_uint32),
        ("next_retry_ms", c_int64),
        ("has_last_failure", c_int),
        ("failure_cause", c_int),
        ("failure_attempt", c_uint32),
        ("failure_detail", c_char_p),
        # CONNECTION_STATE_CHANGED with CONNECTED, CONTINUITY: the agreed server-side timings
        ("has_timings", c_int),
        ("heartbeat_interval_ms", c_int64),
        ("presence_timeout_ms", c_int64),
        ("backfill_window_ms", c_int64),
        ("backfill_count", c_uint64),
        ("timings_clamped", c_int),
        # channels, members, streams
        ("channel", c_char_p),
        ("channel_state", c_int),
        ("channel_reason", c_int),
        ("error", c_int),
        ("user_id", c_char_p),
        ("member_left_cause", c_int),
        ("stream", c_char_p),
        # MESSAGE
        ("from", c_char_p),
        ("message_id", c_char_p),
        ("payload", c_void_p),
        ("payload_size", c_size_t),
        ("backfilled", c_int),
        # CONTINUITY
        ("outage_ms", c_int64),
        ("resumed", c_int),
        ("backfilled_count", c_uint64),
        ("dropped_count", c_uint64),
        ("server_restarted", c_int),
        # OPERATION_COMPLETED
        ("op", c_uint64),
        ("op_kind", c_int),
        ("stored_for_away_user", c_int),
        ("attributes", POINTER(relink_attribute)),
        ("attribute_count", c_size_t),
    ] + _LINK_QUALITY_FIELDS + [  # LINK_QUALITY_CHANGED
        ("recovery_key", c_char_p),  # OPERATION_COMPLETED of RECOVERY_KEY
        ("recovered", c_int),  # CONTINUITY
        # ATTEMPT_FINISHED (with attempt, resumed, failure_cause): microseconds, -1 for a step not reached
        ("attempt_connected", c_int),
        ("attempt_total_us", c_int64),
        ("attempt_dns_us", c_int64),
        ("attempt_proxy_us", c_int64),
        ("attempt_tcp_us", c_int64),
        ("attempt_tls_us", c_int64),
        ("attempt_websocket_us", c_int64),
        ("attempt_login_us", c_int64),
        ("attempt_tls_resumed", c_int),
    ]


class relink_status(Structure):
    """``relink_status``, field by field in the header's order (library-allocated, read through a pointer)."""

    _fields_ = [
        ("state", c_int),
        ("reason", c_int),
        ("attempt", c_uint32),
        ("next_retry_ms", c_int64),
        ("in_state_ms", c_int64),
        ("has_last_failure", c_int),
        ("failure_cause", c_int),
        ("failure_attempt", c_uint32),
        ("failure_detail", c_char_p),
        ("tls_full_handshakes", c_uint64),
        ("tls_resumed_handshakes", c_uint64),
    ] + _LINK_QUALITY_FIELDS  # the link's quality now


# Opaque handles: only ever pointers.
relink_config_p = c_void_p
relink_client_p = c_void_p

# ----------------------------------------------------------------------------------------------- callbacks
# Pointers to char buffers the library owns are declared as POINTER(c_char) / c_void_p, not c_char_p, where Python
# must not stop at a NUL or must write into them.

#: void (*)(void* user_data, const relink_event* event)
relink_event_callback = CFUNCTYPE(None, c_void_p, POINTER(relink_event))
#: void (*)(void* user_data, int level, const char* line, size_t size)
relink_log_callback = CFUNCTYPE(None, c_void_p, c_int, POINTER(c_char), c_size_t)
#: size_t (*)(void* user_data, char* buffer, size_t capacity)
relink_token_provider = CFUNCTYPE(c_size_t, c_void_p, POINTER(c_char), c_size_t)

# ----------------------------------------------------------------------------------------------- functions
# name: (restype, argtypes), in the header's order. tests/test_header.py checks that this is every function of
# relink.h, with the same number of parameters.

_I = c_int
_CLIENT = relink_client_p
_CONFIG = relink_config_p
_OP = POINTER(c_uint64)

FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    "relink_version": (c_char_p, []),
    "relink_abi_version": (_I, []),
    "relink_error_name": (c_char_p, [_I]),
    "relink_error_message": (c_char_p, [_I]),
    "relink_error_condition": (_I, [_I]),
    "relink_state_name": (c_char_p, [_I]),
    "relink_reason_name": (c_char_p, [_I]),
    "relink_channel_state_name": (c_char_p, [_I]),
    "relink_channel_reason_name": (c_char_p, [_I]),
    "relink_member_left_cause_name": (c_char_p, [_I]),
    "relink_attempt_failure_name": (c_char_p, [_I]),
    "relink_profile_name": (c_char_p, [_I]),
    "relink_profile_from_name": (_I, [c_char_p, POINTER(c_int)]),
    "relink_is_valid_channel_name": (_I, [c_char_p]),
    "relink_is_valid_user_id": (_I, [c_char_p]),
    "relink_event_free": (None, [POINTER(relink_event)]),
    "relink_config_new": (_CONFIG, []),
    "relink_config_free": (None, [_CONFIG]),
    "relink_config_set_url": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_allow_plaintext": (_I, [_CONFIG, c_int]),
    "relink_config_set_app_id": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_user_id": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_token": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_profile": (_I, [_CONFIG, c_int]),
    "relink_config_set_time_scale": (_I, [_CONFIG, c_double]),
    "relink_config_set_tls_verify_peer": (_I, [_CONFIG, c_int]),
    "relink_config_set_tls_ca_file": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_tls_ca_directory": (_I, [_CONFIG, c_char_p]),
    "relink_config_set_tls_use_system_store": (_I, [_CONFIG, c_int]),
    "relink_config_set_proxy": (_I, [_CONFIG, c_char_p, c_uint16]),
    "relink_config_set_log_level": (_I, [_CONFIG, c_int]),
    "relink_config_set_log_callback": (_I, [_CONFIG, relink_log_callback, c_void_p]),
    "relink_config_set_max_queued_operations": (_I, [_CONFIG, c_size_t]),
    "relink_config_set_seed": (_I, [_CONFIG, c_uint64]),
    "relink_config_set_token_provider": (_I, [_CONFIG, relink_token_provider, c_void_p]),
    "relink_config_set_event_callback": (_I, [_CONFIG, relink_event_callback, c_void_p]),
    "relink_config_set_timing_ms": (_I, [_CONFIG, c_int, c_int64]),
    "relink_config_set_backoff_shape": (_I, [_CONFIG, c_double, c_double]),
    "relink_config_set_backfill_count": (_I, [_CONFIG, c_size_t]),
    "relink_client_new": (_I, [_CONFIG, POINTER(relink_client_p), POINTER(c_char), c_size_t]),
    "relink_client_free": (None, [_CLIENT]),
    "relink_client_login": (_I, [_CLIENT]),
    "relink_client_logout": (_I, [_CLIENT]),
    "relink_client_join": (_I, [_CLIENT, c_char_p]),
    "relink_client_leave": (_I, [_CLIENT, c_char_p]),
    "relink_client_switch_channel": (_I, [_CLIENT, c_char_p, c_char_p]),
    "relink_client_send_peer_message": (_I, [_CLIENT, c_char_p, c_void_p, c_size_t, c_uint, _OP]),
    "relink_client_send_channel_message": (_I, [_CLIENT, c_char_p, c_void_p, c_size_t, _OP]),
    "relink_client_publish": (_I, [_CLIENT, c_char_p, c_char_p, _OP]),
    "relink_client_unpublish": (_I, [_CLIENT, c_char_p, c_char_p, _OP]),
    "relink_client_set_local_user_attributes": (_I, [_CLIENT, POINTER(relink_attribute), c_size_t, _OP]),
    "relink_client_get_user_attributes": (_I, [_CLIENT, c_char_p, _OP]),
    "relink_client_renew_token": (_I, [_CLIENT, c_char_p, _OP]),
    "relink_client_notify_network_changed": (_I, [_CLIENT]),
    "relink_client_notify_foreground": (_I, [_CLIENT]),
    "relink_config_set_recover_key": (_I, [_CONFIG, c_char_p]),
    "relink_client_recovery_key": (_I, [_CLIENT, _OP]),
    "relink_client_set_proxy": (_I, [_CLIENT, c_char_p, c_uint16]),
    "relink_client_next_event": (_I, [_CLIENT, c_int, POINTER(POINTER(relink_event))]),
    "relink_client_connection_state": (_I, [_CLIENT]),
    "relink_client_channel_state": (_I, [_CLIENT, c_char_p, POINTER(c_int)]),
    "relink_client_status": (_I, [_CLIENT, POINTER(POINTER(relink_status))]),
    "relink_status_free": (None, [POINTER(relink_status)]),
    "relink_client_metrics_prometheus": (
        _I, [_CLIENT, c_char_p, c_char_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]
    ),
}


class LibraryError(ImportError):
    """librelink could not be found or loaded, is of another ABI version, or lacks a function of relink.h."""


def _candidates() -> List[str]:
    """Where to look for the library, in order (see the module's docstring)."""
    found: List[str] = []
    env = os.environ.get("RELINK_LIBRARY")
    if env:
        return [env]  # named explicitly: nothing else is tried, so a wrong path is an error, not a silent fallback
    here = Path(__file__).resolve().parent
    found.append(str(here / SONAME))
    found.append(SONAME)  # the system's loader
    repo = here.parent.parent.parent  # bindings/python/relink -> the repository's root
    for preset in ("dev", "release"):
        found.append(str(repo / "build" / preset / "lib" / SONAME))
    return found


def _declare(library: ctypes.CDLL) -> List[str]:
    """Sets restype/argtypes of every function of relink.h on `library`. Returns the names it lacks."""
    missing = []
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            missing.append(name)
            continue
        function.restype = restype
        function.argtypes = argtypes
    return missing


def load(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads librelink (from `path`, or from the places the module's docstring lists) and declares its functions.

    Raises LibraryError with every place tried when none works, when the library's ABI version is not
    ABI_VERSION, or when it lacks a function of relink.h.
    """
    tried: List[str] = []
    library: Optional[ctypes.CDLL] = None
    for candidate in [path] if path else _candidates():
        if os.sep in candidate and not os.path.exists(candidate):
            tried.append(f"{candidate}: no such file")
            continue
        try:
            library = ctypes.CDLL(candidate)
            break
        except OSError as error:
            tried.append(f"{candidate}: {error}")
    if library is None:
        raise LibraryError(
            "relink: cannot load the relink C library (librelink.so.1). Set RELINK_LIBRARY to its path, e.g. "
            "RELINK_LIBRARY=build/dev/lib/librelink.so, or install relink so that the system's loader finds it. "
            "Tried: " + "; ".join(tried)
        )
    missing = _declare(library)
    if missing:
        raise LibraryError(
            f"relink: {library._name} lacks {len(missing)} function(s) of relink.h (an older library?): "
            + ", ".join(missing)
        )
    abi = library.relink_abi_version()
    if abi != ABI_VERSION:
        raise LibraryError(
            f"relink: {library._name} has ABI version {abi}; this binding speaks version {ABI_VERSION}"
        )
    return library


_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library, loaded on first use (so that importing relink never fails: its first call does)."""
    global _lib
    if _lib is None:
        _lib = load()
    return _lib


def text(value: Any) -> Optional[str]:
    """A C string (bytes from a c_char_p field or result) as str; None stays None. Invalid UTF-8 is replaced."""
    if value is None:
        return None
    return str(value.decode("utf-8", errors="replace"))


def encode(value: str, what: str) -> bytes:
    """A Python string as the NUL-terminated UTF-8 a C function wants. A NUL inside would silently cut it short,
    so it is refused (ValueError naming `what`)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    data = value.encode("utf-8")
    if b"\0" in data:
        raise ValueError(f"{what} must not contain a NUL character")
    return data

