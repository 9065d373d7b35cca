// tests/server/ws_test_client.hpp — a raw WebSocket-over-TLS client for relinkd's integration tests.
//
// It speaks relink's protocol frame by frame (proto::encode / decode_server) and can also send any bytes (bad
// JSON, binary frames, oversized frames), so the tests can play both a well-behaved client and a hostile one.
// Unlike Beast's example client it verifies the server: the certificate must chain to the given CA file and
// match the given host name or IP address.
//
// Once logged in (a LoginOk received) it sends a Ping every `ping_interval`, like a real client, so that the
// server's keep-alive timeout (compressed by --time-scale in tests) does not end idle test sessions. Pongs are
// swallowed.
//
// Thread safety: one test thread uses a client; its I/O runs on a private thread. Beast stays out of this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"

namespace relink::test {

/// How a connection ended, as seen by the client.
struct CloseInfo {
    int code{0};         ///< WebSocket close code (1000 normal, 1001 going away, 1008 policy, 1009 too big); 0 = none
    std::string reason;  ///< the close frame's reason text
    std::string error;   ///< the transport error when the connection ended without a close frame
};

class WsTestClient {
public:
    struct Config {
        std::string host{"127.0.0.1"};  ///< address to connect to
        std::uint16_t port{0};
        std::string ca_file;                   ///< PEM the server's certificate must chain to
        std::string verify_name{"127.0.0.1"};  ///< host name or IP the certificate must be valid for
        std::string path{"/"};
        std::chrono::milliseconds ping_interval{100};  ///< 0 = never ping on its own
        std::chrono::milliseconds connect_timeout{5000};
    };

    /// Connects: TCP, TLS (verified), WebSocket upgrade. Returns nullptr and sets `error` when any step fails.
    static std::unique_ptr<WsTestClient> connect(const Config& config, std::string& error);
    ~WsTestClient();
    WsTestClient(const WsTestClient&) = delete;
    WsTestClient& operator=(const WsTestClient&) = delete;

    void send(const proto::ClientMessage& message);
    void send_text(std::string frame);
    void send_binary(std::string frame);
    /// Bytes straight into the TLS stream, under the WebSocket layer (in order with the frames sent before): one
    /// TLS record when under 16 KiB, so several masked_text_frame()s arrive together, or a frame can be cut in two.
    void send_raw(std::string bytes);

    /// The next message from the server (Pongs skipped), or nullopt when none arrives within `timeout` or the
    /// connection has ended and every message received before was taken.
    std::optional<proto::ServerMessage> next(std::chrono::milliseconds timeout);

    /// The next message of type T, dropping the others; nullopt on timeout or end.
    template <class T>
    std::optional<T> next_of(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            auto message = next(left);
            if (!message) {
                return std::nullopt;
            }
            if (auto* typed = std::get_if<T>(&*message)) {
                return std::move(*typed);
            }
        }
    }

    /// Waits for the end of the connection; nullopt if it is still open after `timeout`.
    std::optional<CloseInfo> wait_closed(std::chrono::milliseconds timeout);
    /// Whether a WebSocket pong with `payload` has come (an answer to a ping sent with send_raw) within `timeout`.
    bool wait_for_pong(std::string_view payload, std::chrono::milliseconds timeout);
    /// Frames from the server that did not decode (each one a protocol bug).
    [[nodiscard]] std::vector<std::string> decode_errors() const;

private:
    struct Impl;
    explicit WsTestClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// A client-to-server frame for send_raw(): `first_byte` (FIN, reserved bits, opcode), then `payload`, masked
/// unless `masked` is false (a broken client).
std::string masked_frame(unsigned first_byte, std::string_view payload, bool masked = true);
/// A client-to-server text frame (FIN set, masked) carrying `payload`, for send_raw().
std::string masked_text_frame(std::string_view payload);

/// One HTTP/1.1 exchange over plain TCP (the admin API), bounded by `timeout`.
struct HttpResult {
    int status{0};  ///< 0 when the exchange failed
    std::string body;
    std::string content_type;
    std::string error;
};
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& authorization, const std::string& body,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace relink::test
