// relinkd's self-signed certificate (server/tls.hpp), with OpenSSL 3's libcrypto.
#include "server/tls.hpp"

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace relink::server {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const noexcept { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

std::string openssl_error(const char* what) {
    std::string text = what;
    if (const unsigned long code = ERR_get_error(); code != 0) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        text += ": ";
        text += buffer;
    }
    ERR_clear_error();
    return text;
}

std::string drain(BIO* bio) {
    std::string out(BIO_ctrl_pending(bio), '\0');
    if (!out.empty() && BIO_read(bio, out.data(), static_cast<int>(out.size())) != static_cast<int>(out.size())) {
        return {};
    }
    return out;
}

bool add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    ExtPtr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value)};
    return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

GeneratedCertificate generate_self_signed() {
    GeneratedCertificate result;
    PkeyPtr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
    if (!key) {
        result.error = openssl_error("EC P-256 key generation failed");
        return result;
    }
    X509Ptr cert{X509_new()};
    BnPtr serial{BN_new()};
    if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
        BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
        result.error = openssl_error("certificate allocation failed");
        return result;
    }
    constexpr long kHour = 3600;
    constexpr long kValidity = 90L * 24 * kHour;
    X509_NAME* name = X509_get_subject_name(cert.get());
    const auto* cn = reinterpret_cast<const unsigned char*>("localhost");
    const auto* org = reinterpret_cast<const unsigned char*>("relinkd self-signed");
    if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kHour) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidity) == nullptr ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, org, -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
        result.error = openssl_error("certificate fields failed");
        return result;
    }
    // A self-signed trust anchor that is also the server's leaf: clients load it as their CA.
    if (!add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        !add_extension(cert.get(), NID_ext_key_usage, "serverAuth") ||
        !add_extension(cert.get(), NID_subject_key_identifier, "hash") ||
        !add_extension(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1")) {
        result.error = openssl_error("certificate extensions failed");
        return result;
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        result.error = openssl_error("certificate signature failed");
        return result;
    }
    BioPtr cert_bio{BIO_new(BIO_s_mem())};
    BioPtr key_bio{BIO_new(BIO_s_mem())};
    if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
        PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        result.error = openssl_error("PEM encoding failed");
        return result;
    }
    CertificateAndKey pem{drain(cert_bio.get()), drain(key_bio.get())};
    if (pem.certificate_pem.empty() || pem.private_key_pem.empty()) {
        result.error = "PEM encoding failed";
        return result;
    }
    result.pem = std::move(pem);
    return result;
}

}  // namespace relink::server
