// core/recovery_key.hpp — the recovery key an app stores to resume its session from a new process
// (docs/protocol.md, "Recovery keys"). Shared by the client core, which makes and reads keys, and the hub, which
// reads the names and the server's secret out of the one a login presents.
//
// A key is base64url (no padding) of a small versioned binary record:
//
//   version (1 byte, 1) | app id | user id | server secret | peer position | channel count | channels
//
// where a string is one length byte and its bytes, a position is a presence byte (0 or 1) followed, when present,
// by epoch and seq as LEB128 varints, and each channel is its name, its last position and its own streams (a count
// byte, then each name). The server's secret is what it handed out for the session (RecoveryKeyOk): it alone
// grants anything, and the server checks it; the rest is the client's state at the moment the key was taken.
//
// Sans-IO, pure functions: call them from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"

namespace relink::core {

/// The first byte of every key this version writes and the only one it reads.
inline constexpr unsigned char kRecoveryKeyVersion = 1;
/// Bounds a key's reader enforces (and its writer's callers respect): names are at most 64 bytes (the naming rule),
/// the server secret at most 64 bytes, at most 32 channels (the server's default channels per user) of at most 16
/// streams each.
inline constexpr std::size_t kRecoveryKeyMaxName = 64;
inline constexpr std::size_t kRecoveryKeyMaxChannels = 32;
inline constexpr std::size_t kRecoveryKeyMaxStreams = 16;

struct RecoveryKeyData {
    std::string app_id;
    std::string user_id;
    std::string secret;  ///< the server's part (RecoveryKeyOk::key)
    std::optional<proto::StreamPosition> last_peer_seen;
    std::vector<proto::ChannelResume> channels;  ///< with their last positions and this client's own streams
    friend bool operator==(const RecoveryKeyData&, const RecoveryKeyData&) = default;
};

/// The key's text; nothing when a field breaks the bounds above (a name or secret too long, too many channels or
/// streams).
[[nodiscard]] std::optional<std::string> encode_recovery_key(const RecoveryKeyData& data);
/// The strict inverse: nothing for anything that is not exactly a key of this version within the bounds (bad
/// base64url, another version, a truncated or overlong record, trailing bytes, an empty or overlong name, an empty
/// secret).
[[nodiscard]] std::optional<RecoveryKeyData> decode_recovery_key(std::string_view text);

}  // namespace relink::core
