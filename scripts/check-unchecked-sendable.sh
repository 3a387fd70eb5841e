#!/bin/sh
# Every `@unchecked Sendable` declaration in Sources/ carries the proof that it holds: a
# comment line saying "@unchecked Sendable" (as in "Why `@unchecked Sendable` holds: …")
# within the 12 lines above it, or in the comment block right above it (an essay that
# ends on the declaration). Prints file:line of each one without, and fails.
#   scripts/check-unchecked-sendable.sh [DIRECTORY]   (default: Sources)
set -eu
cd "$(dirname "$0")/.."
find "${1:-Sources}" -name '*.swift' -print0 | sort -z | xargs -0 awk '
    function isComment(s) { return s ~ /^[ \t]*\/\// }
    FNR == 1 { delete line }
    { line[FNR] = $0 }
    !isComment($0) && /@unchecked[ \t]+Sendable/ {
        proved = 0
        for (i = FNR - 1; i >= 1 && i >= FNR - 12; i--)
            if (isComment(line[i]) && line[i] ~ /@unchecked Sendable/) proved = 1
        # The comment block (and attributes) directly above, however long.
        for (i = FNR - 1; !proved && i >= 1 && (isComment(line[i]) || line[i] ~ /^[ \t]*@/); i--)
            if (isComment(line[i]) && line[i] ~ /@unchecked Sendable/) proved = 1
        if (!proved) { print FILENAME ":" FNR ": @unchecked Sendable without a comment proving it"; bad = 1 }
    }
    END {
        if (bad) print "Say above each one why `@unchecked Sendable` holds (see ControlServer in Sources/XDPControl/ControlSocket.swift)." > "/dev/stderr"
        exit bad
    }
' || exit 1
