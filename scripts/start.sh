#!/usr/bin/env bash
# Provisions the machine (ffmpeg, npm dependencies), then builds and starts the proxy with `npm start`.
# Configuration comes from the environment (PORT, ORIGIN, CACHE_DIR, ...; see the README), which is
# passed through unchanged; extra arguments go to the server.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/provision.sh
exec npm start -- "$@"
