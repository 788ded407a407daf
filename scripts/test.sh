#!/usr/bin/env bash
# Provisions the machine for the full suite (ffmpeg, chromium, npm dependencies), then runs the
# linters (TypeScript and Biome) and the tests. Arguments go to vitest, e.g.
#   scripts/test.sh test/fixtures.test.ts
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/provision.sh --browser --servers
npm run lint
exec npm test -- "$@"
