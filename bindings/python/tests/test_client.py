"""relink.Client against a real relinkd (conftest.py starts one): the session, channels, messages, streams,
attributes, errors as exceptions, configurations refused with the field named, the context manager, the event
iterator (queue mode), handlers on the dispatcher thread (callback mode) and futures. Every wait is bounded."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any, List

import pytest

import relink
from relink import ConnectionReason, ConnectionState

from conftest import APP, SECRET, connected, joined

WAIT_S = 10.0  # generous: a loaded machine; the events come in milliseconds


def login(client: relink.Client) -> relink.ConnectionStateChanged:
    client.login()
    return client.wait_for(relink.ConnectionStateChanged, connected, WAIT_S)


def join(client: relink.Client, channel: str) -> None:
    client.join(channel)
    client.wait_for(relink.ChannelStateChanged, joined(channel), WAIT_S)


def completion(client: relink.Client, op: int) -> relink.OperationCompleted:
    return client.wait_for(relink.OperationCompleted, lambda e: e.op == op, WAIT_S)


def test_login_then_logout_in_queue_mode(make_client: Any) -> None:
    alice = make_client("alice")
    assert not alice.callback_mode
    assert alice.connection_state is ConnectionState.DISCONNECTED
    alice.login()
    first = alice.wait_for(relink.ConnectionStateChanged, timeout=WAIT_S)
    assert (first.state, first.reason, first.seq) == (ConnectionState.CONNECTING, ConnectionReason.LOGIN, 1)
    assert first.previous_state is ConnectionState.DISCONNECTED
    up = alice.wait_for(relink.ConnectionStateChanged, timeout=WAIT_S)
    assert (up.state, up.reason, up.seq) == (ConnectionState.CONNECTED, ConnectionReason.LOGIN_SUCCESS, 2)
    assert up.timings is not None and up.timings.heartbeat_interval_ms > 0 and up.last_failure is None
    assert alice.connection_state is ConnectionState.CONNECTED
    status = alice.status()
    assert (status.state, status.reason, status.attempt, status.last_failure) == (
        ConnectionState.CONNECTED, ConnectionReason.LOGIN_SUCCESS, 0, None)
    assert status.tls_full_handshakes >= 1
    alice.logout()
    down = alice.wait_for(relink.ConnectionStateChanged, timeout=WAIT_S)
    assert (down.state, down.reason, down.seq) == (ConnectionState.DISCONNECTED, ConnectionReason.LOGOUT, 3)
    assert str(down.state) == "DISCONNECTED" and int(down.state) == 1


def test_channel_members_messages_and_streams(make_client: Any) -> None:
    alice, bob = make_client("alice"), make_client("bob")
    login(alice), login(bob)
    join(bob, "lobby")
    assert bob.channel_state("lobby") is relink.ChannelState.CONNECTED
    assert bob.channel_state("elsewhere") is None
    join(alice, "lobby")
    member = bob.wait_for(relink.MemberJoined, lambda e: e.user_id == alice.user_id, WAIT_S)
    assert member.channel == "lobby"

    op = alice.send_channel_message("lobby", "héllo")
    message = bob.wait_for(relink.MessageReceived, timeout=WAIT_S)
    assert (message.from_user, message.channel, message.text, message.backfilled) == (
        alice.user_id, "lobby", "héllo", False)
    assert message.payload == "héllo".encode() and message.message_id and not message.is_peer_message
    done = completion(alice, op)
    assert done.ok and done.kind is relink.OpKind.CHANNEL_MESSAGE and done.error_name == "OK"

    binary = bytes(range(256)) + b"\0tail"  # NULs and invalid UTF-8 come through as the same bytes
    op = alice.send_peer_message(bob.user_id, binary)
    message = bob.wait_for(relink.MessageReceived, timeout=WAIT_S)
    assert message.payload == binary and message.channel is None and message.is_peer_message
    assert "\ufffd" in message.text
    assert completion(alice, op).kind is relink.OpKind.PEER_MESSAGE

    op = alice.publish("lobby", "camera")
    added = bob.wait_for(relink.StreamAdded, timeout=WAIT_S)
    assert (added.channel, added.user_id, added.stream) == ("lobby", alice.user_id, "camera")
    assert completion(alice, op).ok
    alice.unpublish("lobby", "camera")
    removed = bob.wait_for(relink.StreamRemoved, timeout=WAIT_S)
    assert removed.stream == "camera"

    alice.leave("lobby")
    left = bob.wait_for(relink.MemberLeft, timeout=WAIT_S)
    assert (left.user_id, left.cause) == (alice.user_id, relink.MemberLeftCause.QUIT)
    assert str(left.cause) == "QUIT"


def test_attributes_set_then_read_back(make_client: Any) -> None:
    alice, bob = make_client("alice"), make_client("bob")
    login(alice), login(bob)
    op = alice.set_local_user_attributes({"mood": "ok", "city": "Zürich"})
    assert completion(alice, op).kind is relink.OpKind.SET_ATTRIBUTES
    op = bob.get_user_attributes(alice.user_id)
    read = completion(bob, op)
    assert read.ok and read.attributes == {"mood": "ok", "city": "Zürich"}
    op = alice.set_local_user_attributes({})  # none at all
    assert completion(alice, op).ok
    assert completion(bob, bob.get_user_attributes(alice.user_id)).attributes == {}


def test_errors_raise_by_condition_with_code_and_name(make_client: Any) -> None:
    alice = make_client("alice")
    with pytest.raises(relink.MisuseError) as not_logged_in:
        alice.join("lobby")  # rtm: join needs a login
    assert not_logged_in.value.code is relink.ErrorCode.NOT_LOGGED_IN
    assert not_logged_in.value.name == "NOT_LOGGED_IN" and "NOT_LOGGED_IN" in str(not_logged_in.value)
    login(alice)
    with pytest.raises(relink.MisuseError) as twice:
        alice.login()
    assert twice.value.name == "ALREADY_LOGGED_IN"
    with pytest.raises(relink.MisuseError) as bad_name:
        alice.join("no/slashes")
    assert bad_name.value.code is relink.ErrorCode.INVALID_CHANNEL_NAME
    with pytest.raises(relink.MisuseError) as unknown:
        alice.leave("never-joined")
    assert unknown.value.name == "UNKNOWN_CHANNEL"
    with pytest.raises(relink.MisuseError, match="PAYLOAD_TOO_LARGE"):
        alice.send_peer_message("bob", b"x" * (64 * 1024))
    with pytest.raises(ValueError, match="NUL"):
        alice.join("lob\0by")  # would reach C as "lob"
    with pytest.raises(TypeError):
        alice.send_peer_message("bob", 42)  # type: ignore[arg-type]
    # A failure that arrives later: the completion carries it, and its future raises it.
    offline = alice.send_peer_message_async("nobody-is-here", "hello?")
    done = alice.wait_for(relink.OperationCompleted, timeout=WAIT_S)
    assert not done.ok and done.error is relink.ErrorCode.PEER_OFFLINE
    assert isinstance(done.exception(), relink.FatalError)
    with pytest.raises(relink.FatalError) as raised:
        offline.result(timeout=0)  # resolved when the completion was taken from the queue
    assert raised.value.name == "PEER_OFFLINE"
    alice.logout()
    with pytest.raises(relink.MisuseError, match="NOT_LOGGED_IN"):
        alice.send_channel_message("lobby", "x")


@pytest.mark.parametrize(
    "options,field",
    [
        ({"url": "http://127.0.0.1:1/"}, "url"),
        ({"url": "ws://127.0.0.1:1/"}, "url"),  # plaintext without allow_plaintext
        ({"app_id": "my/app"}, "app_id"),
        ({"user_id": " alice"}, "user_id"),
        ({"ca_file": "/no/such/ca.pem"}, "tls.ca_file"),
        ({"token": ""}, "token"),
        ({"time_scale": 0}, "time_scale"),
        ({"profile": "rtx"}, "profile"),
        ({"timings": {"login_timout": 5}}, "timings"),
    ],
)
def test_a_configuration_that_cannot_work_raises_naming_its_field(server: Any, options: dict, field: str) -> None:
    settings = dict(url=server.url, app_id=APP, user_id="alice", token="t", ca_file=server.ca)
    settings.update(options)
    with pytest.raises(relink.ConfigError) as refused:
        relink.Client(**settings)
    assert refused.value.field == field
    assert str(refused.value).startswith(field) and isinstance(refused.value, ValueError)
    assert refused.value.code is relink.ErrorCode.INVALID_ARGUMENT


def test_the_context_manager_closes_the_client(server: Any) -> None:
    token = relink.mint_token(APP, "ctx-alice", SECRET)
    with relink.Client(url=server.url, app_id=APP, user_id="ctx-alice", token=token, ca_file=server.ca) as client:
        login(client)
        assert not client.closed
    assert client.closed
    with pytest.raises(relink.ClientClosedError):
        client.login()
    assert client.next_event(0) is None and list(client.events(timeout=0.1)) == []
    client.close()  # again: nothing


def test_a_client_left_to_the_garbage_collector_is_freed(server: Any) -> None:
    token = relink.mint_token(APP, "gc-alice", SECRET)
    client = relink.Client(url=server.url, app_id=APP, user_id="gc-alice", token=token, ca_file=server.ca)
    login(client)
    del client
    gc.collect()  # logs out and frees it; nothing may crash or hang


def test_the_event_iterator_yields_in_order_and_ends_after_its_timeout(make_client: Any) -> None:
    alice = make_client("alice")
    alice.login()
    seen: List[Any] = []
    for event in alice.events(timeout=1.0):
        seen.append(event)
        if connected(event):
            break
    assert [e.seq for e in seen if isinstance(e, relink.ConnectionStateChanged)] == [1, 2]
    started = time.monotonic()
    # nothing more happens but the quality report of the first heartbeat's round trip: it ends
    assert [e for e in alice.events(timeout=0.3) if not isinstance(e, relink.LinkQualityChanged)] == []
    assert 0.25 <= time.monotonic() - started < 5


def test_handlers_run_on_the_dispatcher_thread_in_order(make_client: Any) -> None:
    events: List[Any] = []
    threads = set()
    connected_event = threading.Event()

    def record(event: Any) -> None:
        threads.add(threading.get_ident())
        events.append(event)
        if connected(event):
            connected_event.set()

    alice = make_client("alice", on_event=record)
    assert alice.callback_mode

    @alice.on_event
    def broken(event: Any) -> None:
        raise RuntimeError("a handler that raises stops nothing")

    with pytest.raises(relink.MisuseError):
        alice.next_event(0)  # callback mode has no queue
    alice.login()
    assert connected_event.wait(WAIT_S)
    assert threads and threading.get_ident() not in threads and len(threads) == 1
    assert [e.seq for e in events if isinstance(e, relink.ConnectionStateChanged)] == [1, 2]

    # An operation's future resolves on the dispatcher thread, with its completion.
    bob = make_client("bob")
    login(bob)
    assert alice.send_peer_message_async(bob.user_id, "hi").result(timeout=WAIT_S).ok
    attributes = bob.submit(bob.set_local_user_attributes, {"k": "v"})
    assert bob.wait_for(relink.OperationCompleted, timeout=WAIT_S).ok and attributes.result(0).ok
    assert alice.get_user_attributes_async(bob.user_id).result(timeout=WAIT_S).attributes == {"k": "v"}
    with pytest.raises(relink.FatalError, match="PEER_OFFLINE"):
        alice.send_peer_message_async("nobody-is-here", "hello?").result(timeout=WAIT_S)


def test_on_event_needs_callback_mode(make_client: Any) -> None:
    with pytest.raises(relink.MisuseError, match="queue mode"):
        make_client("alice").on_event(print)


def test_a_handler_may_close_its_own_client(make_client: Any) -> None:
    closed = threading.Event()
    holder: List[relink.Client] = []

    def on_event(event: Any) -> None:
        if connected(event):
            holder[0].close()  # from inside the client's own callback
            closed.set()

    alice = make_client("alice", callbacks=True)
    holder.append(alice)
    alice.on_event(on_event)
    alice.login()
    assert closed.wait(WAIT_S)
    assert alice.closed
    with pytest.raises(relink.ClientClosedError):
        alice.logout()


def test_refused_attempts_are_reported_and_the_login_times_out(server: Any) -> None:
    token = relink.mint_token(APP, "refused-carol", SECRET)
    with relink.Client(
        url="wss://127.0.0.1:1/", app_id=APP, user_id="refused-carol", token=token, ca_file=server.ca, time_scale=0.1
    ) as carol:
        carol.login()
        # On a loaded machine (the sanitizer builds) an attempt may run out of its 500 ms before the refusal is
        # seen: TIMEOUT. Every attempt fails; the refusals say REFUSED.
        failures = (relink.AttemptFailure.REFUSED, relink.AttemptFailure.TIMEOUT)
        failed = carol.wait_for(relink.AttemptFailed, lambda e: e.cause is relink.AttemptFailure.REFUSED, WAIT_S)
        assert failed.attempt >= 1 and "127.0.0.1:1" in failed.detail
        status = carol.status()
        assert status.last_failure is not None and status.last_failure.cause in failures
        down = carol.wait_for(
            relink.ConnectionStateChanged, lambda e: e.state is ConnectionState.DISCONNECTED, WAIT_S
        )
        assert down.reason is ConnectionReason.LOGIN_TIMEOUT
        assert down.last_failure is not None and down.last_failure.cause in failures


def test_the_log_handler_receives_the_clients_lines(server: Any) -> None:
    lines: List[Any] = []
    token = relink.mint_token(APP, "log-dave", SECRET)
    with relink.Client(
        url=server.url, app_id=APP, user_id="log-dave", token=token, ca_file=server.ca,
        log_level="DEBUG", log_handler=lambda level, line: lines.append((level, line)),
    ) as dave:
        login(dave)
    assert lines and all(isinstance(level, relink.LogLevel) and isinstance(line, str) for level, line in lines)
    assert all(level >= relink.LogLevel.DEBUG for level, _ in lines)
    assert not any(token in line for _, line in lines)  # never a token


def test_the_token_provider_is_asked_when_the_token_runs_out(server: Any) -> None:
    asked = threading.Event()
    user = "provider-erin"

    def provide() -> str:
        asked.set()
        return relink.mint_token(APP, user, SECRET)

    # A token that expires in 2 s: once the client saw it expire, the provider is asked for a fresh one before
    # the next reconnect.
    expiring = relink.mint_token(APP, user, SECRET, ttl=2)
    with relink.Client(
        url=server.url, app_id=APP, user_id=user, token=expiring, ca_file=server.ca, token_provider=provide
    ) as erin:
        login(erin)
        erin.wait_for(relink.TokenExpired, timeout=WAIT_S)
        erin.set_proxy(None)  # still no proxy, but a reconnect (a network change keeps a link that answers)
        assert asked.wait(WAIT_S)
        again = erin.wait_for(relink.ConnectionStateChanged, connected, WAIT_S)
        assert again.state is ConnectionState.CONNECTED


def test_a_network_change_on_a_live_link_keeps_it(make_client: Any) -> None:
    alice = make_client("alice")
    login(alice)
    alice.notify_network_changed()  # a probe: one heartbeat at once, answered
    with pytest.raises(TimeoutError):
        alice.wait_for(relink.ConnectionStateChanged, timeout=1.0)
    assert alice.connection_state is ConnectionState.CONNECTED
    quality = alice.link_quality()
    assert quality.up and quality.rtt_samples >= 1 and quality.rtt_us > 0
    assert quality.since_last_data_ms is not None and quality.since_last_data_ms >= 0
    alice.notify_foreground()  # the same check: a live link stays
    with pytest.raises(TimeoutError):
        alice.wait_for(relink.ConnectionStateChanged, timeout=0.5)


def test_a_reconnect_reports_continuity(make_client: Any) -> None:
    alice = make_client("alice")
    login(alice)
    join(alice, "before")
    alice.switch_channel("before", "after")
    alice.wait_for(relink.ChannelStateChanged, joined("after"), WAIT_S)
    assert alice.channel_state("before") is None
    alice.set_proxy(None)  # still no proxy, but a reconnect
    down = alice.wait_for(relink.ConnectionStateChanged, timeout=WAIT_S)
    assert (down.state, down.reason) == (ConnectionState.RECONNECTING, ConnectionReason.SETTING_PROXY_SERVER)
    alice.wait_for(relink.ConnectionStateChanged, connected, WAIT_S)
    after: List[Any] = []  # the continuity report and the channel's REJOINED, in whichever order they come
    for event in alice.events(timeout=WAIT_S):
        after.append(event)
        if any(isinstance(e, relink.ContinuityReport) for e in after) and any(
            isinstance(e, relink.ChannelStateChanged) and e.reason is relink.ChannelReason.REJOINED for e in after
        ):
            break
    reports = [e for e in after if isinstance(e, relink.ContinuityReport)]
    assert reports and reports[0].outage_ms >= 0 and reports[0].dropped == 0 and not reports[0].server_restarted
    rejoined = [e for e in after if isinstance(e, relink.ChannelStateChanged) and e.channel == "after"]
    assert rejoined and rejoined[-1].state is relink.ChannelState.CONNECTED, after


def test_a_recovery_key_of_a_session_that_ended_is_refused(make_client: Any) -> None:
    # The recovery that succeeds needs the first process dead (a live one would take its session back): that is
    # relink_cli_recovery_python, through python3 -m relink.cli. Here: the key comes back, and once its session
    # has ended (a logout) a new client presenting it is refused with the reason, without a retry.
    alice = make_client("alice")
    login(alice)
    join(alice, "room")
    key = completion(alice, alice.recovery_key()).recovery_key
    assert key and len(key) < 400
    alice.logout()
    alice.wait_for(relink.ConnectionStateChanged, lambda e: e.state is ConnectionState.DISCONNECTED, WAIT_S)
    again = make_client("alice", recover_key=key)
    again.login()
    refused = again.wait_for(
        relink.ConnectionStateChanged, lambda e: e.state is ConnectionState.DISCONNECTED, WAIT_S)
    assert refused.reason is ConnectionReason.RECOVERY_REFUSED
    with pytest.raises(TimeoutError):
        again.wait_for(relink.ConnectionStateChanged, timeout=1.0)  # no retry of a refused recovery


def test_a_login_finishes_its_attempt_with_every_step_timed_and_counted(make_client: Any) -> None:
    alice = make_client("alice")
    alice.login()
    seen: List[Any] = []
    for event in alice.events(timeout=WAIT_S):
        seen.append(event)
        if connected(event):
            break
    finished = [e for e in seen if isinstance(e, relink.AttemptFinished)]
    assert len(finished) == 1, seen  # before CONNECTED
    attempt = finished[0]
    assert (attempt.attempt, attempt.connected, attempt.resumed, attempt.cause) == (1, True, False, None)
    steps = attempt.steps
    assert steps.proxy_us is None  # no proxy
    assert steps.dns_us is not None and steps.tcp_us is not None and steps.websocket_us is not None
    assert steps.tls_us is not None and steps.tls_us > 0 and not steps.tls_resumed
    assert steps.login_us is not None and 0 < steps.login_us < attempt.total_us

    page = alice.metrics_prometheus()
    assert "relink_client_attempts_total 1\n" in page
    assert "relink_client_attempts_connected_total 1\n" in page
    assert "relink_client_tls_seconds_count 1\n" in page
    labelled = alice.metrics_prometheus("chat_relink", 'region="eu"')
    assert 'chat_relink_attempts_total{region="eu"} 1\n' in labelled and "relink_client_" not in labelled


def test_a_refused_attempt_finishes_with_its_cause(server: Any) -> None:
    token = relink.mint_token(APP, "finished-dave", SECRET)
    with relink.Client(
        url="wss://127.0.0.1:1/", app_id=APP, user_id="finished-dave", token=token, ca_file=server.ca, time_scale=0.1
    ) as dave:
        dave.login()
        seen: List[Any] = []
        for event in dave.events(timeout=WAIT_S):
            seen.append(event)
            if isinstance(event, relink.AttemptFinished):
                break
        assert len(seen) >= 2 and isinstance(seen[-2], relink.AttemptFailed), seen
        failed, finished = seen[-2], seen[-1]
        assert isinstance(finished, relink.AttemptFinished), seen
        assert (finished.attempt, finished.connected, finished.resumed) == (1, False, False)
        # On a loaded machine (the sanitizer builds) an attempt may run out of its time before the refusal.
        assert finished.cause is failed.cause
        assert finished.cause in (relink.AttemptFailure.REFUSED, relink.AttemptFailure.TIMEOUT)
        steps = finished.steps
        assert steps.dns_us is not None  # an address: resolved at once
        assert (steps.proxy_us, steps.tcp_us, steps.tls_us, steps.websocket_us, steps.login_us) == (None,) * 5
        page = dave.metrics_prometheus()
        assert "relink_client_attempts_connected_total 0\n" in page
        assert f'relink_client_attempts_failed_total{{cause="{finished.cause}"}} 0\n' not in page
        assert f'relink_client_attempts_failed_total{{cause="{finished.cause}"}} ' in page


def test_metrics_of_a_closed_client_raise(make_client: Any) -> None:
    alice = make_client("alice")
    assert "relink_client_attempts_total 0\n" in alice.metrics_prometheus()
    alice.close()
    with pytest.raises(relink.ClientClosedError):
        alice.metrics_prometheus()
