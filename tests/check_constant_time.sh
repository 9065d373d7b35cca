#!/usr/bin/env bash
# Secrets and MACs are compared in constant time (docs/security.md). Timing is not measurable reliably in a test on
# a shared machine, so this checks the source instead: the token MAC and the admin secret are compared with
# CRYPTO_memcmp, the store's session secrets (resume tokens, recovery secrets) with secrets_equal, and no ordinary
# comparison (memcmp, ==, compare) of them appears. Usage: check_constant_time.sh ROOT
set -euo pipefail
root=${1:?usage: check_constant_time.sh ROOT}
status=0
require() {  # FILE PATTERN WHAT
    if ! grep -qE "$2" "$root/$1"; then
        echo "$1: $3 not found (expected /$2/)"
        status=1
    fi
}
forbid() {  # FILE PATTERN WHAT
    if grep -nE "$2" "$root/$1"; then
        echo "$1: $3"
        status=1
    fi
}
require src/token/token.cpp 'CRYPTO_memcmp\(mac_part\.data\(\), expected_part\.data\(\)' "the MAC comparison with CRYPTO_memcmp"
forbid src/token/token.cpp '(^|[^_])memcmp\(|mac_part *==|== *mac_part|expected_part *==|== *expected_part|mac_part\.compare' \
    "an ordinary comparison of MACs"
require src/server/admin.cpp 'CRYPTO_memcmp\(a\.data\(\), b\.data\(\), a\.size\(\)\)' "the admin secret comparison with CRYPTO_memcmp"
forbid src/server/admin.cpp '(^|[^_])memcmp\(|secret *== |== *secret|secret\.compare' "an ordinary comparison of the admin secret"
# The session secrets of the store (resume tokens, recovery secrets), in C++ and in the Redis script: secrets_equal.
require src/cluster/memory_store.cpp 'secrets_equal\(\*m\.resume_token, old\.resume_token\.view\(\)\)' "the resume token comparison with secrets_equal"
require src/cluster/memory_store.cpp 'secrets_equal\(old\.recovery_secret' "the recovery secret comparison with secrets_equal"
forbid src/cluster/memory_store.cpp 'resume_token *==|== *old\.(resume|previous)_token|recovery_secret *==|== *[a-z.]*recovery_secret' \
    "an ordinary comparison of a session secret"
require src/cluster/redis_store.lua 'secrets_equal\(m\.resume_token, s\.token\)' "the resume token comparison with secrets_equal (Lua)"
forbid src/cluster/redis_store.lua 'resume_token *[~=]= *s\.|[~=]= *s\.(token|prev_token)|recovery *[~=]= *a\.recovery|[~=]= *s\.recovery\b' \
    "an ordinary comparison of a session secret (Lua)"
if [ "$status" -eq 0 ]; then
    echo "constant-time comparisons: token MAC and admin secret use CRYPTO_memcmp; session secrets use secrets_equal"
fi
exit "$status"
