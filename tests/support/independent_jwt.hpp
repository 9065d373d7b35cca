// tests/support/independent_jwt.hpp — JWTs and keys made without relink's code, for the tests of JWT login tokens:
// key pairs from `openssl genpkey`, tokens from tests/token/mint_jwt.py (Python's standard library for HS256, the
// openssl command line for ES256 / RS256). The script is copied beside the test binaries at configure time
// (tests/CMakeLists.txt), so no source path is compiled in (support/bin_dir.hpp says why).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/bin_dir.hpp"
#include "support/child_process.hpp"

namespace relink::test {

/// Runs a program (argv[0] an absolute path) to its end within 60 s; its stdout without the trailing newline, or
/// nullopt when it failed (its stdout then goes to `failure` when given). Its stderr is dropped.
inline std::optional<std::string> run_for_output(std::vector<std::string> argv, std::string* failure = nullptr) {
    ChildSpec spec;
    spec.argv = std::move(argv);
    spec.stderr_file = "/dev/null";
    const auto run = ChildProcess::run(std::move(spec), std::chrono::seconds(60));
    if (!run.status || *run.status != 0) {
        if (failure != nullptr) {
            *failure = run.output;
        }
        return std::nullopt;
    }
    std::string out = run.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

/// A private key (PKCS#8 PEM) and its public key (SubjectPublicKeyInfo PEM), written by the openssl command line.
struct KeyPair {
    std::filesystem::path private_pem;
    std::filesystem::path public_pem;
};

/// "EC" (P-256, for ES256) or "RSA" of `rsa_bits`, in `dir` as NAME.pem and NAME.pub.pem; nullopt on failure.
inline std::optional<KeyPair> generate_key_pair(const std::filesystem::path& dir, const std::string& name,
                                                const std::string& type, int rsa_bits = 2048) {
    KeyPair pair{dir / (name + ".pem"), dir / (name + ".pub.pem")};
    std::vector<std::string> argv{"/usr/bin/openssl", "genpkey", "-algorithm", type};
    if (type == "EC") {
        argv.insert(argv.end(), {"-pkeyopt", "ec_paramgen_curve:P-256"});
    } else if (type == "EC384") {
        argv = {"/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"};
    } else {
        argv.insert(argv.end(), {"-pkeyopt", "rsa_keygen_bits:" + std::to_string(rsa_bits)});
    }
    argv.insert(argv.end(), {"-out", pair.private_pem.string()});
    if (!run_for_output(argv) || !run_for_output({"/usr/bin/openssl", "pkey", "-in", pair.private_pem.string(),
                                                  "-pubout", "-out", pair.public_pem.string()})) {
        return std::nullopt;
    }
    return pair;
}

/// What tests/token/mint_jwt.py signs: `alg` names the signature ("HS256", "ES256", "RS256" or "none"); the key is
/// a secret, a file whose bytes key HS256, or a private key PEM; `header` (JSON) replaces the default
/// {"alg": alg, "typ": "JWT"}.
struct IndependentJwt {
    std::string alg;
    std::string claims_json;
    std::string secret;
    std::filesystem::path secret_file;
    std::filesystem::path private_key;
    std::string header_json;
};

/// The token, or an empty string (with the script's output in `failure`) when the script failed.
inline std::string mint_independently(const IndependentJwt& jwt, std::string* failure = nullptr) {
    // The system's python3 when there is one: a version manager's shim on PATH costs a second per start.
    std::vector<std::string> argv{"/usr/bin/python3", (bin_dir() / "mint_jwt.py").string(), "--alg", jwt.alg};
    if (!std::filesystem::exists(argv[0])) {
        argv.insert(argv.begin(), {"/usr/bin/env", "python3"});
        argv.erase(argv.begin() + 2);
    }
    if (!jwt.secret.empty()) {
        argv.insert(argv.end(), {"--secret", jwt.secret});
    }
    if (!jwt.secret_file.empty()) {
        argv.insert(argv.end(), {"--secret-file", jwt.secret_file.string()});
    }
    if (!jwt.private_key.empty()) {
        argv.insert(argv.end(), {"--key", jwt.private_key.string()});
    }
    if (!jwt.header_json.empty()) {
        argv.insert(argv.end(), {"--header", jwt.header_json});
    }
    argv.push_back(jwt.claims_json);
    return run_for_output(argv, failure).value_or(std::string{});
}

}  // namespace relink::test
