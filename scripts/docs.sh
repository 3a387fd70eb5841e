#!/bin/bash
# Builds the DocC documentation of the library (the catalogues Sources/*/*.docc: a landing
# page per module and the XDPSwitch articles, one per way of embedding it) with
# swift-docc-plugin, into .build-docs/docs/MODULE.doccarchive (made for static hosting: serve the
# folder, e.g. `python3 -m http.server -d .build-docs/docs/XDPSwitch.doccarchive`, and open
# /documentation/xdpswitch). Fails on any DocC warning
# (a symbol link that resolves to nothing, an article no page reaches).
#   DOCS_TARGETS="…"   which modules (default: the library's)
set -euo pipefail
cd "$(dirname "$0")/.."
# The plugin only with this variable (Package.swift); the datapath's modules need no control plane.
export XDPSWITCH_DOCS=1 XDPSWITCH_CONTROL_PLANE=0
TARGETS=${DOCS_TARGETS:-"XDPPacket XDPDatapath XDPModel AFXDP XDPSwitch"}
OUT=.build-docs/docs
mkdir -p "$OUT"
failed=0
for target in $TARGETS; do
    log=.build-docs/docs-$target.log
    if swift package --scratch-path .build-docs --allow-writing-to-directory "$OUT" generate-documentation \
        --target "$target" --output-path "$OUT/$target.doccarchive" --transform-for-static-hosting --warnings-as-errors >"$log" 2>&1; then
        echo "docs: $target: $OUT/$target.doccarchive"
    else
        echo "docs: $target FAILED:"; grep -E "warning:|error:" "$log" | head -20
        failed=1
    fi
done
exit $failed
