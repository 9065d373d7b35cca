// relinkd's self-signed certificate and session-ticket keys (server/tls.hpp), with OpenSSL 3.
#include "server/tls.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/encoding.hpp"

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

// ------------------------------------------------------------------------------------------- ticket keys

/// An open descriptor, closed when it goes.
class Descriptor {
public:
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

std::string quoted(const std::string& path) {
    return "--tls-ticket-key-file '" + path + "'";
}

std::string size_rule() {
    return "want " + std::to_string(TicketKey::kBytes) + " bytes per key, 1 to " +
           std::to_string(TicketKeys::kMaxKeys) + " keys (make one key with: openssl rand 80 > FILE; chmod 600 FILE)";
}

/// Reads the whole key file, refusing anything but a regular file of a plausible size.
std::string read_key_file(const std::string& path, int fd, std::string& bytes, std::string& warning) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return quoted(path) + ": cannot stat it: " + std::strerror(errno);
    }
    if (!S_ISREG(st.st_mode)) {
        return quoted(path) + " is not a regular file";
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0 || size % TicketKey::kBytes != 0 || size > TicketKey::kBytes * TicketKeys::kMaxKeys) {
        return quoted(path) + " holds " + std::to_string(size) + " bytes: " + size_rule();
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777U));
        warning = quoted(path) + " is accessible by group or others (mode " + mode +
                  "): whoever reads it can decrypt session tickets; chmod 600 it";
    }
    bytes.assign(size, '\0');
    std::size_t done = 0;
    while (done < size) {
        const auto n = ::read(fd, bytes.data() + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const std::string why = n < 0 ? std::strerror(errno) : "it shrank while being read";
            OPENSSL_cleanse(bytes.data(), bytes.size());
            return quoted(path) + ": cannot read it: " + why;
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

/// Writes `bytes` to a fresh temporary file next to `path` (mode 0600) and links it to `path`. Sets `raced` when
/// another process linked its own file there first (then that file is the one to use). An error line, or "".
std::string create_key_file(const std::string& path, const std::string& bytes, bool& raced) {
    const std::filesystem::path target(path);
    const auto directory = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string temporary = (directory / (target.filename().string() + ".tmp.XXXXXX")).string();
    const int fd = ::mkstemp(temporary.data());  // mode 0600, O_EXCL
    if (fd < 0) {
        const int error = errno;
        std::string line = quoted(path) + ": cannot create it in '" + directory.string() + "': " + std::strerror(error);
        if (error == ENOENT) {
            line += " (does the directory exist?)";
        }
        return line;
    }
    std::string failure;
    {
        const Descriptor file(fd);
        std::size_t done = 0;
        while (done < bytes.size() && failure.empty()) {
            const auto n = ::write(file.get(), bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                failure = quoted(path) + ": cannot write it: " + std::strerror(errno);
            } else {
                done += static_cast<std::size_t>(n);
            }
        }
        if (failure.empty() && ::fsync(file.get()) != 0) {
            failure = quoted(path) + ": cannot write it: " + std::strerror(errno);
        }
    }
    // link(), unlike rename(), never replaces a file that appeared meanwhile: the first relinkd's key wins.
    if (failure.empty() && ::link(temporary.c_str(), path.c_str()) != 0) {
        if (errno == EEXIST) {
            raced = true;
        } else {
            failure = quoted(path) + ": cannot create it: " + std::strerror(errno);
        }
    }
    ::unlink(temporary.c_str());
    return failure;
}

/// A context's ticket keys, replaceable while handshakes run on other threads (a reload on SIGHUP): the callback
/// copies the pointer under the mutex and uses its copy, so a handshake sees the old set or the new one, never half
/// of each, and an old set lives (unwiped) until the last handshake using it is done.
class TicketKeyHolder {
public:
    explicit TicketKeyHolder(std::shared_ptr<const TicketKeys> keys) : keys_(std::move(keys)) {}
    [[nodiscard]] std::shared_ptr<const TicketKeys> get() const {
        const std::lock_guard lock(mutex_);
        return keys_;
    }
    void set(std::shared_ptr<const TicketKeys> keys) {
        const std::lock_guard lock(mutex_);
        keys_.swap(keys);
    }  // the previous set is released (and wiped, if no handshake holds it) outside the lock

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const TicketKeys> keys_;
};

/// The SSL_CTX ex-data slot holding the context's TicketKeyHolder; deleted (the keys wiped) with the context.
int ticket_keys_index() {
    static const int index = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* holder, CRYPTO_EX_DATA*, int, long, void*) {
            delete static_cast<TicketKeyHolder*>(holder);  // NOLINT(cppcoreguidelines-owning-memory): OpenSSL's
        });
    return index;
}

/// OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): AES-256-CBC and HMAC-SHA256 keyed by the
/// current key to make a ticket; the key the ticket names to open one. 1: ticket made; 2: ticket opened, and a new
/// one is to be issued (under the current key); 0: unknown key (a full handshake); -1: failure.
///
/// An opened ticket is always renewed (2, never 1): with 1, a TLS 1.3 server resumes without sending any new
/// ticket, so a client would reconnect with the same ticket until it expires (2 h after the full handshake, however
/// often it reconnected meanwhile), and a ticket under a rotated-out key would never be replaced. One ticket per
/// resumption costs an AES and an HMAC over ~200 bytes.
int ticket_key_callback(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                        int encrypt) {
    const auto* holder =
        static_cast<const TicketKeyHolder*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index()));
    const std::shared_ptr<const TicketKeys> keys = holder != nullptr ? holder->get() : nullptr;
    if (keys == nullptr) {
        return -1;
    }
    const TicketKey* key = nullptr;
    std::size_t index = 0;
    if (encrypt == 1) {
        key = &keys->current();
        const int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
        if (RAND_bytes(iv, iv_length) != 1) {
            return -1;
        }
        std::memcpy(key_name, key->name.data(), key->name.size());
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) != 1) {
            return -1;
        }
    } else {
        key = keys->find(key_name, index);
        if (key == nullptr) {
            return 0;  // another key file, or a rotated-out key: a full handshake and a fresh ticket
        }
        if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) != 1) {
            return -1;
        }
    }
    std::array<OSSL_PARAM, 3> params{
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac_key.data()),
                                          key->hmac_key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params.data()) != 1) {
        return -1;
    }
    return encrypt == 1 ? 1 : 2;  // an opened ticket is renewed under the current key, whichever key opened it
}

}  // namespace

std::optional<TicketKeys> TicketKeys::parse(const std::string& bytes) {
    if (bytes.empty() || bytes.size() % TicketKey::kBytes != 0 || bytes.size() > TicketKey::kBytes * kMaxKeys) {
        return std::nullopt;
    }
    std::vector<TicketKey> keys(bytes.size() / TicketKey::kBytes);
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    for (auto& key : keys) {
        std::memcpy(key.name.data(), in, key.name.size());
        in += key.name.size();
        std::memcpy(key.aes_key.data(), in, key.aes_key.size());
        in += key.aes_key.size();
        std::memcpy(key.hmac_key.data(), in, key.hmac_key.size());
        in += key.hmac_key.size();
    }
    return TicketKeys(std::move(keys));
}

std::optional<TicketKeys> TicketKeys::generate() {
    std::string bytes(TicketKey::kBytes, '\0');
    if (RAND_priv_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size())) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    auto keys = parse(bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return keys;
}

TicketKeys::~TicketKeys() {
    if (!keys_.empty()) {
        OPENSSL_cleanse(keys_.data(), keys_.size() * sizeof(TicketKey));
    }
}

const TicketKey* TicketKeys::find(const unsigned char* name, std::size_t& index) const noexcept {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
        // Key names are not secret (they travel in clear in every ticket): an ordinary comparison is fine.
        if (std::memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
            index = i;
            return &keys_[i];
        }
    }
    return nullptr;
}

std::string TicketKeys::serialize() const {
    std::string bytes;
    bytes.reserve(keys_.size() * TicketKey::kBytes);
    for (const auto& key : keys_) {
        bytes.append(reinterpret_cast<const char*>(key.name.data()), key.name.size());
        bytes.append(reinterpret_cast<const char*>(key.aes_key.data()), key.aes_key.size());
        bytes.append(reinterpret_cast<const char*>(key.hmac_key.data()), key.hmac_key.size());
    }
    return bytes;
}

namespace {

LoadedTicketKeys read_ticket_keys(const std::string& path, bool create) {
    LoadedTicketKeys result;
    if (path.empty()) {
        result.error = "--tls-ticket-key-file needs a path";
        return result;
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        auto fresh = TicketKeys::generate();
        if (!fresh) {
            result.error = quoted(path) + ": the random generator failed";
            return result;
        }
        std::string bytes = fresh->serialize();
        bool raced = false;
        const auto error = create_key_file(path, bytes, raced);
        OPENSSL_cleanse(bytes.data(), bytes.size());
        if (!error.empty()) {
            result.error = error;
            return result;
        }
        result.created = !raced;
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // read back what is on disk: the file is the truth
    }
    if (fd < 0) {
        result.error = quoted(path) + ": cannot open it: " + std::strerror(errno);
        return result;
    }
    const Descriptor file(fd);
    std::string bytes;
    if (auto error = read_key_file(path, file.get(), bytes, result.warning); !error.empty()) {
        result.error = error;
        return result;
    }
    result.keys = TicketKeys::parse(bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    if (!result.keys) {
        result.error = quoted(path) + ": " + size_rule();
    }
    return result;
}

}  // namespace

LoadedTicketKeys load_ticket_keys(const std::string& path) {
    return read_ticket_keys(path, /*create=*/false);
}

LoadedTicketKeys load_or_create_ticket_keys(const std::string& path) {
    return read_ticket_keys(path, /*create=*/true);
}

std::string use_ticket_keys(ssl_ctx_st* context, const TicketKeys& keys) {
    const int index = ticket_keys_index();
    if (index < 0) {
        return "cannot install the TLS ticket keys (no OpenSSL ex-data slot)";
    }
    auto copy = std::make_shared<const TicketKeys>(keys);
    if (auto* installed = static_cast<TicketKeyHolder*>(SSL_CTX_get_ex_data(context, index))) {
        installed->set(std::move(copy));  // a reload: handshakes in progress keep the set they started with
        return {};
    }
    auto owned = std::make_unique<TicketKeyHolder>(std::move(copy));
    if (SSL_CTX_set_ex_data(context, index, owned.get()) != 1) {
        SSL_CTX_set_ex_data(context, index, nullptr);
        return "cannot install the TLS ticket keys";
    }
    owned.release();  // the context's now: freed by the ex-data free function
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticket_key_callback) != 1) {
        return "cannot install the TLS ticket key callback";
    }
    return {};
}

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

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    if (bytes == 0 || RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
        return {};
    }
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL's unsigned char, the same bytes
    return encoding::to_hex(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

}  // namespace relink::server
