// client/config_check.hpp — the checks relink::Client's constructor makes on its ClientConfig before anything else,
// so that a configuration that can never connect fails at once, with a message naming the field, instead of after
// the login timeout.
#pragma once

#include "relink/client.hpp"

namespace relink::client {

/// Checks every field of `config` that can be checked without the network: the URL (parses, wss:// or ws:// with
/// allow_plaintext), the app id and user id (the server's rules), a token or a token provider, the CA file and
/// directory (readable; the file holds a PEM certificate), the proxy (host and port), the time scale and the timings.
/// @throws std::invalid_argument "relink::Client: FIELD: what is wrong" for the first field that cannot work
void validate(const ClientConfig& config);

}  // namespace relink::client
