#!/usr/bin/env bash
# Build the OpenTelemetry Collector of the interoperability test once per machine, from pinned Go
# modules (ingest/otelcol/builder-config.yaml) with the OpenTelemetry Collector Builder.
#
# Usage: ingest/otelcol.sh build|path
#
#   build  build .otelcol/otelcol-rca unless it is there and was built from the current config
#          (a no-op then); the first build downloads modules from the Go module proxy and takes
#          about 5 minutes on 2 cores, with go's progress on the terminal
#   path   print the binary's path; exit 3 when it is not built
#
# Environment:
#   OTELCOL_DIR      where the builder, the generated sources and the binary go (default <repo>/.otelcol)
#   OTELCOL_BUILDER  the builder's module version (default v0.165.0, the Collector's version)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
CONFIG="$SCRIPT_DIR/otelcol/builder-config.yaml"
OUT_DIR=${OTELCOL_DIR:-$ROOT_DIR/.otelcol}
BUILDER_VERSION=${OTELCOL_BUILDER:-v0.165.0}
BINARY="$OUT_DIR/otelcol-rca"
MARKER="$OUT_DIR/.complete"

log() { printf 'otelcol.sh: %s\n' "$*"; }
die() { printf 'otelcol.sh: error: %s\n' "$*" >&2; exit 1; }

stamp() { { sha256sum "$CONFIG" | cut -d' ' -f1; echo "$BUILDER_VERSION"; } | sha256sum | cut -d' ' -f1; }

built() { [[ -x $BINARY && -f $MARKER && $(cat "$MARKER") == "$(stamp)" ]]; }

build() {
    if built; then
        log "up to date: $BINARY"
        return 0
    fi
    command -v go >/dev/null 2>&1 || die "'go' not found on PATH. Install Go >= 1.24 (https://go.dev/dl/)."
    log "GOPROXY=$(go env GOPROXY)"
    mkdir -p "$OUT_DIR/bin"
    local start=$SECONDS
    log "[1/2] installing the Collector Builder $BUILDER_VERSION"
    GOBIN="$OUT_DIR/bin" GOFLAGS=-mod=mod go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
    log "[2/2] building the Collector (modules from the proxy, then compilation; about 5 minutes)"
    sed "s#^\(  output_path:\).*#\1 $OUT_DIR/build#" "$CONFIG" > "$OUT_DIR/builder-config.yaml"
    rm -f "$MARKER"
    (cd "$OUT_DIR" && "$OUT_DIR/bin/builder" --config "$OUT_DIR/builder-config.yaml") \
        || die "the Collector Builder failed (output above); check the network to $(go env GOPROXY)"
    mv "$OUT_DIR/build/otelcol-rca" "$BINARY"
    stamp > "$MARKER"
    log "built $BINARY in $(( SECONDS - start )) s ($("$BINARY" --version))"
}

case ${1:-} in
    build) build ;;
    path) built || exit 3; echo "$BINARY" ;;
    *) die "usage: ingest/otelcol.sh build|path" ;;
esac
