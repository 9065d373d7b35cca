#!/usr/bin/env bash
# Fails if a file that ships to users (include/, docs/, README.md, examples/, bindings/) points at something a user
# does not have: the project's internal specification (a path into ../shared, the file behaviour.md, an id such as
# R-RTM-9, T-RTC or T-ROOM) or the vendor documents the specification was written from (called "seeds" inside the
# project). The rule, with what passes and what fails, is in docs/testing.md ("Shipped files stand alone").
# "seed" in the sense of a random-number seed (--seed 7, ClientConfig::seed, seeded, a fuzzer's seed corpus) passes.
# Usage: check_shipped_files_stand_alone.sh SOURCE_DIR [FILE...]   (FILE...: check only these, e.g. to try the rule)
set -euo pipefail
src="${1:?usage: check_shipped_files_stand_alone.sh SOURCE_DIR [FILE...]}"
shift
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for path in include docs README.md examples bindings; do
        [ -e "$src/$path" ] && targets+=("$src/$path")
    done
fi

# Each pattern is a Perl regular expression, matched case-sensitively unless it starts with (?i). Lines that fail:
#   see ../shared/spec/behaviour.md section 6         the rtc seed's numbers; the room seed: 1002053
#   an expired token keeps the state (R-RTM-9)          seeds 002, 003; the seed tables; the seed systems
#   the T-RTC table, T-RTC-WEB                          as the seed says; not in the seed; the seed gives no time
# Lines that pass: relink-soak --seed 7; ClientConfig::seed; seeded faults; with seed 13; whatever the seed;
#   the seed corpus; A-Z a-z 0-9; UTF-8; X-Forwarded-For.
patterns=(
    '\.\./shared'                                            # a path into the internal tree
    '\bbehaviour\.md\b'                                      # the specification's file name
    '\b[A-Z]-[A-Z]{2,}(?:-[A-Z0-9]+)*\b'                     # a spec id: R-RTM-9, T-RTC, T-RTC-WEB, S-ADMIN
    '(?i)\bseeds? 0\d\d\b'                                   # a numbered vendor document: seed 002, seeds 002, 003
    "(?i)\bseeds?'s?(?!\w)"                                  # possessive: the seed's, the seeds' (numbers)
    '(?i)\b(?:rtc|rtm|room|web|ios|flutter|native|vendor|spec)[- ]seeds?\b'  # the rtc seed, the room seed
    '(?i)\bseed (?:systems?|tables?|timelines?|documents?|files?|texts?|sdks?)\b'  # the seed systems, seed tables
    # "the seed" as the source of a rule: as the seed says, not in the seed, the seed gives no time
    '(?i)\b(?:in|as|from|than|by|to|of|per|unlike) the seeds?\b(?! (?:corpus|corpora|inputs?|value))'
    '(?i)\bthe seeds? (?:says?|gives?|has|have|does|do|names?|advises?|reports?|asks?|warns?|calls?|spells?|describes?|lists?)\b'
)
joined=""
for pattern in "${patterns[@]}"; do joined+="${joined:+|}(?:$pattern)"; done  # (?i) stays inside its own group
if hits=$(grep -HrnIP -- "$joined" "${targets[@]}"); then
    echo "shipped_files_stand_alone: these lines of shipped files point at the internal spec or its vendor documents;"
    echo "say what a user needs in plain words instead (docs/testing.md, \"Shipped files stand alone\"):"
    echo "$hits"
    exit 1
fi
count=$(find "${targets[@]}" -type f | wc -l)
if [ "$#" -eq 0 ] && [ "$count" -lt 10 ]; then
    echo "shipped_files_stand_alone: expected the shipped files under ${targets[*]}, found $count files"
    exit 1
fi
echo "shipped_files_stand_alone: $count shipped files checked, none points at the internal spec or its sources"
