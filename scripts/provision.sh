#!/usr/bin/env bash
# Makes this machine able to build, run and test the proxy. Idempotent: when everything is present it
# only checks and returns in well under a second.
#
#   scripts/provision.sh [--browser] [--servers] [--bench]
#     (always)   Node.js >= 20, ffmpeg/ffprobe >= 5, npm dependencies (npm ci when node_modules is
#                missing or older than package-lock.json)
#     --browser  chromium, for the browser playback tests
#     --servers  nginx-light and varnish, for the fleet and CDN tests (they run the real servers)
#     --bench    nginx-light and wrk, for the benchmarks
#
# On Debian/Ubuntu as root it installs what is missing with apt (one `apt-get update`, only when an
# install is needed). Otherwise it stops and prints the exact commands to run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_browser=false
want_servers=false
want_bench=false
for argument in "$@"; do
  case "$argument" in
    --browser) want_browser=true ;;
    --servers) want_servers=true ;;
    --bench) want_bench=true ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "provision: unknown option '$argument' (expected --browser, --servers, --bench)" >&2
      exit 2
      ;;
  esac
done

say() { echo "provision: $*"; }
die() {
  echo "provision: $*" >&2
  exit 1
}

readonly MIN_NODE_MAJOR=20
readonly MIN_FFMPEG_MAJOR=5

# --- Node.js -----------------------------------------------------------------------------------------
# Not installed from here: Debian's own nodejs is too old on bookworm, and the right source (NodeSource,
# nvm, a distro package) is the user's choice.
node_help="Install Node.js ${MIN_NODE_MAJOR} or newer, for example:
  curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs
or with nvm:  nvm install 22 && nvm use 22"
if ! command -v node >/dev/null 2>&1; then
  die "node was not found. ${node_help}"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < MIN_NODE_MAJOR)); then
  die "node $(node --version) is too old; ${MIN_NODE_MAJOR}+ is required. ${node_help}"
fi

# --- System packages ---------------------------------------------------------------------------------
# Each wanted package with the command that shows it is installed.
declare -a missing_packages=()
need_package() {
  local package="$1" command_name="$2"
  command -v "$command_name" >/dev/null 2>&1 || missing_packages+=("$package")
}

need_package ffmpeg ffmpeg
need_package ffmpeg ffprobe
# Text and subtitle layers draw with these fonts (src/layers/fonts.ts); nothing is fetched at run time.
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing_packages+=(fonts-dejavu-core)
if $want_browser; then need_package chromium chromium; fi
if $want_servers; then
  need_package nginx-light nginx
  need_package varnish varnishd
fi
if $want_bench; then
  need_package nginx-light nginx
  need_package wrk wrk
fi
# ffmpeg and ffprobe come from one package; list it once.
if ((${#missing_packages[@]} > 0)); then
  mapfile -t missing_packages < <(printf '%s\n' "${missing_packages[@]}" | awk '!seen[$0]++')
fi

if ((${#missing_packages[@]} > 0)); then
  packages="${missing_packages[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    case "$(uname -s)" in
      Darwin) brew_names="${packages/nginx-light/nginx}" ;;
      *) brew_names="" ;;
    esac
    message="missing: ${packages}. This script installs them only on Debian/Ubuntu (apt)."
    if [[ -n "$brew_names" ]]; then
      message+=$'\n'"On macOS run:  brew install ${brew_names}"
    else
      message+=$'\n'"Install them with your package manager (ffmpeg must be ${MIN_FFMPEG_MAJOR} or newer), then re-run."
    fi
    die "$message"
  fi
  if [[ "$(id -u)" != 0 ]]; then
    die "missing: ${packages}. Run as root, or install them with:
  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages}"
  fi
  say "installing ${packages}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends ${packages} </dev/null
fi

ffmpeg_version="$(ffmpeg -hide_banner -version | head -n 1)"
# Release builds say "ffmpeg version 5.1.9-0+deb12u1"; git builds ("N-1234-g...") have no number to check.
if [[ "$ffmpeg_version" =~ version\ n?([0-9]+)\. ]] && ((BASH_REMATCH[1] < MIN_FFMPEG_MAJOR)); then
  die "${ffmpeg_version} is too old; ffmpeg ${MIN_FFMPEG_MAJOR}+ is required (Debian 12 bookworm or newer ships 5.1):
  sudo apt-get update && sudo apt-get install -y ffmpeg   # on Debian 12+ / Ubuntu 22.04+"
fi

# --- npm dependencies --------------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install, so its age says when deps were installed.
installed_marker="node_modules/.package-lock.json"
if [[ ! -d node_modules || ! -e "$installed_marker" || package-lock.json -nt "$installed_marker" ]]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund </dev/null
fi

ready="node $(node --version), ${ffmpeg_version%% Copyright*}"
if $want_browser; then ready+=", chromium"; fi
if $want_bench; then ready+=", nginx, wrk"; fi
say "ready: ${ready}"
