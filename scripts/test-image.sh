#!/usr/bin/env bash
# Builds the Dockerfile and smoke-tests the container, without a Docker engine: buildah builds it,
# podman (with runc) runs it. Checks /healthz, a thumbnail and a transform of the bundled fixtures
# (decoded with ffprobe/ffmpeg on the host), that the proxy runs as a non-root user, that SIGTERM
# stops it within the graceful-stop bound, and prints the image's size and Node version.
#
#   scripts/test-image.sh            (or: npm run test:image)
#
# It builds what is committed (`git archive HEAD`), not the working tree, so half-done edits in a
# shared checkout cannot break or leak into the image; SMOKE_CONTEXT=worktree builds the working
# tree instead. The container runs with a read-only root filesystem, as deploy/kubernetes/ runs it.
#
# Environment: IMAGE (default localhost/ik-video-proxy:smoke), SMOKE_PORT (default 18484),
# SMOKE_CONTEXT (head or worktree), KEEP_IMAGE=1 to keep the built image. Needs root (rootless podman needs subuid setup) and the
# Debian packages buildah, podman, runc and debootstrap (installed here with apt when missing).
#
# When the Dockerfile's base image (node:22-bookworm-slim) cannot be pulled (no image registry
# reachable, as on the CI machines), a local stand-in is made once and cached in podman's store:
# a Debian bookworm minbase from the apt mirror plus this machine's node and npm. The stand-in
# carries this machine's Node version, not 22: the smoke test then checks the Dockerfile's steps
# and the product, not the real base image's Node.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGE=${IMAGE:-localhost/ik-video-proxy:smoke}
PORT=${SMOKE_PORT:-18484}
BASE=docker.io/library/node:22-bookworm-slim
NAME=ikvp-smoke-$$
# The graceful stop: 10 s for running jobs plus 1 s to kill ffmpeg (src/index.ts), plus slack.
STOP_BOUND_S=13

say() { echo "test-image: $*"; }
die() {
  echo "test-image: FAIL: $*" >&2
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  die "run as root (rootless podman needs /etc/subuid and /etc/subgid entries)"
fi
missing=()
for tool in buildah podman runc debootstrap curl; do
  command -v "$tool" > /dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get > /dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc debootstrap curl > /dev/null
  else
    die "missing ${missing[*]}: install buildah, podman, runc and debootstrap"
  fi
fi
RUNC=$(command -v runc)
# runc, not crun; ulimits at or below this machine's hard limits, or the runtime refuses to start.
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=65536
[ "$NOFILE" -gt 65536 ] && NOFILE=65536
NPROC=$(ulimit -Hu)
[ "$NPROC" = unlimited ] && NPROC=4096
[ "$NPROC" -gt 4096 ] && NPROC=4096
# Without systemd, podman logs an error for every HEALTHCHECK timer it cannot make: drop that noise.
run_podman() { podman --runtime "$RUNC" "$@" 2> >(grep -v 'systemd' >&2); }
LIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

WORK=$(mktemp -d)
cleanup() {
  run_podman rm -f "$NAME" > /dev/null 2>&1 || true
  [ "${KEEP_IMAGE:-0}" = 1 ] || podman rmi -f "$IMAGE" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the base image, or a local stand-in for it ---------------------------------------------------
if podman image exists "$BASE"; then
  say "base $BASE found in the local store"
elif timeout 60 podman pull -q "$BASE" > /dev/null 2>&1; then
  say "pulled $BASE"
else
  say "cannot pull $BASE: making a local stand-in (Debian bookworm minbase + this machine's node $(node -v))"
  if ! podman image exists localhost/debian:bookworm-min; then
    MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2> /dev/null || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    started=$(date +%s)
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
      die "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
    tar -C "$WORK/rootfs" -c . | podman import -q - localhost/debian:bookworm-min > /dev/null
    rm -rf "$WORK/rootfs"
    say "debian minbase imported in $(($(date +%s) - started)) s"
  fi
  mkdir -p "$WORK/nodebase"
  cp "$(command -v node)" "$WORK/nodebase/node"
  cp -r "$(npm root -g)/npm" "$WORK/nodebase/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$WORK/nodebase/ca.crt"
  cat > "$WORK/nodebase/Containerfile" << 'EOF'
FROM localhost/debian:bookworm-min
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd -g 1000 node && useradd -u 1000 -g node -m node \
 && printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > /usr/local/etc/npmrc
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
EOF
  buildah build -q --isolation chroot -t "$BASE" "$WORK/nodebase" > /dev/null
fi

# --- the product's image --------------------------------------------------------------------------
CONTEXT=.
if [ "${SMOKE_CONTEXT:-head}" = head ]; then
  CONTEXT=$WORK/context
  mkdir -p "$CONTEXT"
  git archive HEAD | tar -x -C "$CONTEXT"
  say "building $IMAGE from the Dockerfile at $(git rev-parse --short HEAD)"
else
  say "building $IMAGE from the Dockerfile in the working tree"
fi
started=$(date +%s)
# --format docker keeps the Dockerfile's HEALTHCHECK (OCI images have no such field); --layers
# reuses the `npm ci` layer while package-lock.json is unchanged.
buildah build --isolation chroot --pull=never --layers --format docker -t "$IMAGE" "$CONTEXT" > "$WORK/build.log" 2>&1 ||
  die "build failed:
$(tail -30 "$WORK/build.log")"
say "built in $(($(date +%s) - started)) s"
SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
IMAGE_NODE=$(run_podman run --rm "${LIMITS[@]}" --health-interval=disable --entrypoint node "$IMAGE" -v)
say "image size: $((SIZE / 1000000)) MB ($SIZE bytes); Node in the image: $IMAGE_NODE"
MAJOR=${IMAGE_NODE#v}
MAJOR=${MAJOR%%.*}
if [ "$MAJOR" -lt 22 ]; then
  say "NOTE: Node $IMAGE_NODE in this image (the stand-in base); node:22-bookworm-slim has Node 22." \
    "AWS SDK for JavaScript v3 releases after the first week of January 2027 require Node >= 22" \
    "(aws/aws-sdk-js-v3#7983): keep the base image at 22 or later."
fi

# --- run it ----------------------------------------------------------------------------------------
# --read-only: only the cache volume (the Dockerfile's VOLUME) and podman's tmpfs /tmp are writable.
# No systemd here to time the HEALTHCHECK: it is run once by hand below instead.
run_podman run -d --name "$NAME" --net=host --read-only -e PORT="$PORT" -e LOG_LEVEL=warn \
  "${LIMITS[@]}" --health-interval=disable "$IMAGE" > /dev/null
BASE_URL=http://127.0.0.1:$PORT
for _ in $(seq 1 60); do
  curl -sf "$BASE_URL/healthz" > /dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "$BASE_URL/healthz" > /dev/null || die "/healthz did not answer: $(run_podman logs "$NAME" 2>&1 | tail -20)"
say "/healthz ok"
run_podman healthcheck run "$NAME" > /dev/null || die "the image's HEALTHCHECK reports unhealthy"
say "the Dockerfile's HEALTHCHECK passes"

USER_ID=$(run_podman exec "$NAME" sh -c 'id -u')
PROXY_USER=$(run_podman top "$NAME" user args | awk '/dist\/index.js/ {print $1; exit}')
[ "$USER_ID" != 0 ] || die "the container runs as root"
[ -n "$PROXY_USER" ] && [ "$PROXY_USER" != root ] || die "the proxy process runs as '${PROXY_USER:-?}'"
say "runs as uid $USER_ID ($PROXY_USER)"

curl -sf -o "$WORK/thumb.jpg" "$BASE_URL/sample.mp4/ik-thumbnail.jpg?tr=w-320,so-2" || die "thumbnail request failed"
THUMB=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width -of csv=p=0 "$WORK/thumb.jpg")
[ "$THUMB" = "mjpeg,320" ] || die "thumbnail is '$THUMB', expected a 320-wide JPEG"
say "thumbnail ok ($THUMB)"

curl -sf -o "$WORK/out.webm" "$BASE_URL/sample.mp4?tr=w-320,du-2,f-webm" || die "transform request failed"
VIDEO=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width -of csv=p=0 "$WORK/out.webm")
case "$VIDEO" in vp8,320 | vp9,320 | av1,320) ;; *) die "transform is '$VIDEO', expected a 320-wide WebM video" ;; esac
ffmpeg -v error -xerror -i "$WORK/out.webm" -f null - || die "the transform does not decode"
say "transform ok ($VIDEO, decodes)"

# SIGTERM while an encode runs: a slow full-length VP9 transform is in progress when the stop begins.
curl -s -o /dev/null "$BASE_URL/sample.mp4?tr=w-1280,f-webm" &
CURL_PID=$!
for _ in $(seq 1 50); do
  run_podman top "$NAME" args 2> /dev/null | grep -q '[f]fmpeg' && break
  sleep 0.2
done
run_podman top "$NAME" args | grep -q '[f]fmpeg' || die "no encode was running to stop"
started=$(date +%s%N)
run_podman stop -t $((STOP_BOUND_S + 5)) "$NAME" > /dev/null
wait "$CURL_PID" 2> /dev/null || true
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
EXIT_CODE=$(run_podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$EXIT_CODE" = 0 ] || die "exit status $EXIT_CODE after SIGTERM (expected 0: a graceful stop)"
[ "$elapsed_ms" -lt $((STOP_BOUND_S * 1000)) ] || die "SIGTERM took ${elapsed_ms} ms (bound ${STOP_BOUND_S} s)"
say "SIGTERM during an encode: exited 0 in ${elapsed_ms} ms (bound ${STOP_BOUND_S} s)"

say "PASS ($IMAGE, $((SIZE / 1000000)) MB, $IMAGE_NODE)"
