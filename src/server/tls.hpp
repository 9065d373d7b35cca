// server/tls.hpp — relinkd's TLS material that is not a connection: the self-signed certificate generated at
// start when no --cert/--key is given, the session-ticket keys of --tls-ticket-key-file, and random secrets from
// OpenSSL's generator (resume tokens, a node's epoch seed).
//
// The certificate is for `localhost`, 127.0.0.1 and ::1 (subjectAltName), signed by its own EC P-256 key, valid
// from an hour ago for 90 days. Clients trust it by loading its PEM (relinkd --write-ca FILE) as their CA; host
// name verification then works for those three names.
//
// Ticket keys encrypt the session tickets relinkd gives its clients (TLS 1.3 NewSessionTicket): a client that
// reconnects presents its ticket and resumes without a certificate, a signature or a verification. OpenSSL's own
// ticket keys are random per process, so every ticket dies with the process; keys read from a file survive a
// restart and are shared by every relinkd started with the same file (a drain onto a replacement). docs/security.md
// says what a leaked key file gives an attacker and how to rotate the keys. Plain OpenSSL (libcrypto), no Asio.
//
// Thread safety: the functions are reentrant; a TicketKeys value is a plain value.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX, without including OpenSSL here

namespace relink::server {

struct CertificateAndKey {
    std::string certificate_pem;
    std::string private_key_pem;
};

struct GeneratedCertificate {
    std::optional<CertificateAndKey> pem;
    std::string error;  ///< what failed, when !pem
};

/// A fresh key and self-signed certificate for localhost / 127.0.0.1 / ::1.
[[nodiscard]] GeneratedCertificate generate_self_signed();

/// One session-ticket key: an 80-byte record of the key file, in this order.
struct TicketKey {
    static constexpr std::size_t kBytes = 80;
    std::array<unsigned char, 16> name{};      ///< written in clear into each ticket: finds the key again
    std::array<unsigned char, 32> aes_key{};   ///< AES-256-CBC encryption of the ticket
    std::array<unsigned char, 32> hmac_key{};  ///< HMAC-SHA256 of the ticket
};

/// The keys of a ticket key file: the first encrypts new tickets, every one of them decrypts (a ticket under an
/// older key is accepted and replaced by one under the first). Wiped from memory when destroyed.
class TicketKeys {
public:
    static constexpr std::size_t kMaxKeys = 8;

    /// Keys from a key file's bytes: 1 to kMaxKeys records of TicketKey::kBytes. nullopt otherwise.
    [[nodiscard]] static std::optional<TicketKeys> parse(const std::string& bytes);
    /// One fresh random key (OpenSSL's CSPRNG); nullopt only if the generator fails.
    [[nodiscard]] static std::optional<TicketKeys> generate();

    TicketKeys(const TicketKeys& other) = default;
    TicketKeys(TicketKeys&& other) noexcept = default;
    TicketKeys& operator=(const TicketKeys& other) = default;
    TicketKeys& operator=(TicketKeys&& other) noexcept = default;
    ~TicketKeys();

    [[nodiscard]] const TicketKey& current() const noexcept { return keys_.front(); }
    [[nodiscard]] const std::vector<TicketKey>& all() const noexcept { return keys_; }
    /// The key named `name` (16 bytes), or null; its index in all() goes to `index`.
    [[nodiscard]] const TicketKey* find(const unsigned char* name, std::size_t& index) const noexcept;
    /// The key file's bytes for these keys.
    [[nodiscard]] std::string serialize() const;

private:
    explicit TicketKeys(std::vector<TicketKey> keys) : keys_(std::move(keys)) {}
    std::vector<TicketKey> keys_;  // never empty
};

/// What reading (or creating) a ticket key file gave.
struct LoadedTicketKeys {
    std::optional<TicketKeys> keys;
    bool created{false};  ///< the file did not exist and was made with one random key (mode 0600)
    std::string warning;  ///< e.g. the file is readable by group or others; empty when nothing to say
    std::string error;    ///< one line (for "relinkd: ..."), when !keys
};

/// Reads the ticket key file at `path`, or creates it with one random key when it does not exist: written to a
/// temporary file in the same directory (mode 0600) and linked to `path` only when complete, so that two relinkd
/// starting at once end up with the same key and no reader ever sees half a key. Never throws.
[[nodiscard]] LoadedTicketKeys load_or_create_ticket_keys(const std::string& path);
/// Reads the ticket key file at `path`, which must exist (a reload: a file gone missing is an error, not a reason
/// to make keys no other server has). Never throws.
[[nodiscard]] LoadedTicketKeys load_ticket_keys(const std::string& path);

/// Makes `context` encrypt its session tickets with `keys` (a copy, owned by the context from now on and wiped
/// when it is freed) instead of OpenSSL's per-process random keys. An error line, or an empty string. Called again
/// on the same context (a reload), it replaces the keys while handshakes go on: each handshake uses the set it
/// found when its ticket was made or opened, and tickets under a key kept in the new set still resume.
[[nodiscard]] std::string use_ticket_keys(ssl_ctx_st* context, const TicketKeys& keys);

/// `bytes` bytes from OpenSSL's cryptographic generator, as lowercase hex; empty if the generator fails.
[[nodiscard]] std::string random_hex(std::size_t bytes);

}  // namespace relink::server
