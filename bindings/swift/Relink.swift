// bindings/swift/Relink.swift — a sketch of a Swift wrapper over relink's C API (the CRelink module of
// module.modulemap). Untested: this machine has no Swift toolchain (docs/bindings.md). It shows the shape:
// errors thrown from the C codes, the client freed in deinit, events pulled in queue mode on a thread of the
// wrapper's own and handed out as an AsyncStream.
import CRelink
import Foundation

/// An error code of relink (RELINK_E_*), with its canonical name ("NOT_LOGGED_IN").
public struct RelinkError: Error, CustomStringConvertible {
    public let code: Int32
    public let detail: String?
    public var name: String { String(cString: relink_error_name(code)) }
    public var description: String { detail.map { "\(name): \($0)" } ?? name }
}

@inline(__always) private func check(_ code: Int32) throws {
    if code != RELINK_OK { throw RelinkError(code: code, detail: nil) }
}

/// The events an app reads, copied out of the library's relink_event (which ends with relink_event_free).
public enum RelinkEvent {
    case connectionStateChanged(state: String, reason: String, seq: UInt64)
    case channelStateChanged(channel: String, reason: String, error: Int32)
    case message(from: String, channel: String?, payload: Data)
    case operationCompleted(op: UInt64, error: Int32)
    case attemptFailed(attempt: UInt32, detail: String)
    case other(type: Int32)

    init(_ e: UnsafePointer<relink_event>) {
        let event = e.pointee
        switch event.type {
        case RELINK_EVENT_CONNECTION_STATE_CHANGED:
            self = .connectionStateChanged(state: String(cString: relink_state_name(event.state)),
                                           reason: String(cString: relink_reason_name(event.reason)), seq: event.seq)
        case RELINK_EVENT_CHANNEL_STATE_CHANGED:
            self = .channelStateChanged(channel: String(cString: event.channel),
                                        reason: String(cString: relink_channel_reason_name(event.channel_reason)),
                                        error: event.error)
        case RELINK_EVENT_MESSAGE:
            self = .message(from: String(cString: event.from), channel: event.channel.map { String(cString: $0) },
                            payload: event.payload_size > 0 ? Data(bytes: event.payload, count: event.payload_size) : Data())
        case RELINK_EVENT_OPERATION_COMPLETED:
            self = .operationCompleted(op: event.op, error: event.error)
        case RELINK_EVENT_ATTEMPT_FAILED:
            self = .attemptFailed(attempt: event.attempt, detail: String(cString: event.failure_detail))
        default:
            self = .other(type: event.type)
        }
    }
}

/// The realtime connection of one user (relink_client), in queue mode.
public final class RelinkClient {
    private let handle: OpaquePointer
    private let lock = NSLock()
    private var closed = false

    public init(url: String, appId: String, userId: String, token: String, caFile: String? = nil) throws {
        guard let config = relink_config_new() else { throw RelinkError(code: RELINK_E_INTERNAL, detail: nil) }
        defer { relink_config_free(config) }  // the client keeps its own copy
        try check(relink_config_set_url(config, url))  // Swift passes a String as a NUL-terminated UTF-8 copy
        try check(relink_config_set_app_id(config, appId))
        try check(relink_config_set_user_id(config, userId))
        try check(relink_config_set_token(config, token))
        if let caFile { try check(relink_config_set_tls_ca_file(config, caFile)) }
        var why = [CChar](repeating: 0, count: 512)
        var client: OpaquePointer?
        let code = relink_client_new(config, &client, &why, why.count)
        guard code == RELINK_OK, let client else { throw RelinkError(code: code, detail: String(cString: why)) }
        handle = client
    }

    deinit { relink_client_free(handle) }  // logs out, stops; bounded

    public func login() throws { try check(relink_client_login(handle)) }
    public func logout() throws { try check(relink_client_logout(handle)) }
    public func join(_ channel: String) throws { try check(relink_client_join(handle, channel)) }

    @discardableResult
    public func sendPeerMessage(to userId: String, _ payload: Data) throws -> UInt64 {
        var op: UInt64 = 0
        try payload.withUnsafeBytes { bytes in
            try check(relink_client_send_peer_message(handle, userId, bytes.baseAddress, bytes.count, 0, &op))
        }
        return op
    }

    /// The next event, waiting at most timeoutMs (blocks the calling thread: call it off the main thread).
    public func nextEvent(timeoutMs: Int32) throws -> RelinkEvent? {
        var event: UnsafeMutablePointer<relink_event>?
        try check(relink_client_next_event(handle, timeoutMs, &event))
        guard let event else { return nil }
        defer { relink_event_free(event) }
        return RelinkEvent(event)
    }

    /// Every event, pulled on a thread of its own while the stream is consumed.
    public var events: AsyncStream<RelinkEvent> {
        AsyncStream { continuation in
            let thread = Thread { [weak self] in
                while let self, !Thread.current.isCancelled {
                    if let event = try? self.nextEvent(timeoutMs: 200) { continuation.yield(event) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in thread.cancel() }
            thread.start()
        }
    }
}

// Callback mode instead (events on the client's dispatcher thread): a C function pointer cannot capture, so the
// context travels in user_data:
//
//     final class Box { let handler: (RelinkEvent) -> Void; init(_ h: @escaping (RelinkEvent) -> Void) { handler = h } }
//     let box = Box { event in print(event) }             // keep it alive until relink_client_free() returns
//     relink_config_set_event_callback(config, { userData, event in
//         let box = Unmanaged<Box>.fromOpaque(userData!).takeUnretainedValue()
//         box.handler(RelinkEvent(event!))                 // copy now: `event` ends when this returns
//     }, Unmanaged.passUnretained(box).toOpaque())
