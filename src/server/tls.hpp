// server/tls.hpp — relinkd's self-signed certificate, generated at start when no --cert/--key is given.
//
// The certificate is for `localhost`, 127.0.0.1 and ::1 (subjectAltName), signed by its own EC P-256 key, valid
// from an hour ago for 90 days. Clients trust it by loading its PEM (relinkd --write-ca FILE) as their CA; host
// name verification then works for those three names. Plain OpenSSL (libcrypto), no Asio.
//
// Thread safety: generate_self_signed() is reentrant.
#pragma once

#include <optional>
#include <string>

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

}  // namespace relink::server
