// The PrintTo() overloads of relink/testing.hpp: GoogleTest prints relink's enums by their canonical names. Weak
// definitions: an app's own definition of one of these functions replaces it at link time.
#include <ostream>

#include "relink/testing.hpp"

namespace relink {

[[gnu::weak]] void PrintTo(ConnectionState state, std::ostream* out) {
    *out << to_string(state);
}

[[gnu::weak]] void PrintTo(ConnectionReason reason, std::ostream* out) {
    *out << to_string(reason);
}

[[gnu::weak]] void PrintTo(ChannelState state, std::ostream* out) {
    *out << to_string(state);
}

[[gnu::weak]] void PrintTo(ChannelReason reason, std::ostream* out) {
    *out << to_string(reason);
}

[[gnu::weak]] void PrintTo(MemberLeftCause cause, std::ostream* out) {
    *out << to_string(cause);
}

[[gnu::weak]] void PrintTo(AttemptFailure cause, std::ostream* out) {
    *out << to_string(cause);
}

[[gnu::weak]] void PrintTo(Profile profile, std::ostream* out) {
    *out << to_string(profile);
}

}  // namespace relink
