#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman or docker,
# runs it on loopback and checks /healthz from inside (mayfly healthcheck,
# as the image's HEALTHCHECK does) and from the host.
#
# Exits 0 and says SKIPPED when it cannot run: no container engine is
# running, or the base images cannot be pulled. Anything else that fails
# is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "image: SKIPPED the image build and its /healthz check: $*"; exit 0; }

engine=""
for e in podman docker; do
	if command -v "$e" >/dev/null && "$e" info >/dev/null 2>&1; then
		engine=$e
		break
	fi
done
if [ -z "$engine" ]; then
	skip "no container engine is running here (podman or docker with a reachable daemon)"
fi

mapfile -t bases < <(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile)
for base in "${bases[@]}"; do
	if ! timeout 300 "$engine" pull -q "$base" >/dev/null 2>&1; then
		skip "$engine cannot pull the base image $base (no registry reachable)"
	fi
done

tag=mayfly:ci-$$
name=mayfly-ci-$$
cleanup() {
	"$engine" rm -f "$name" >/dev/null 2>&1 || true
	"$engine" rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "image: building $tag with $engine"
"$engine" build -q -t "$tag" --build-arg VERSION=ci . >/dev/null
"$engine" run -d --name "$name" -p 127.0.0.1::8740 -e MAYFLY_ISSUER=http://127.0.0.1:8740 "$tag" >/dev/null

# Up to 30 tries, a second apart: the first start creates the root key.
ok=""
for _ in $(seq 30); do
	if "$engine" exec "$name" /usr/local/bin/mayfly healthcheck >/dev/null 2>&1; then
		ok=1
		break
	fi
	sleep 1
done
if [ -z "$ok" ]; then
	echo "image: mayfly healthcheck never succeeded in the container; its log:" >&2
	"$engine" logs "$name" >&2 || true
	exit 1
fi
port=$("$engine" port "$name" 8740/tcp | head -n 1 | sed 's/.*://')
go run ./cmd/mayfly healthcheck --url "http://127.0.0.1:$port/healthz"
if [ "$("$engine" exec "$name" /usr/local/bin/mayfly version)" != "mayfly ci" ]; then
	echo "image: mayfly version in the image is not the one built" >&2
	exit 1
fi
echo "image: $tag serves /healthz as user $("$engine" inspect --format '{{.Config.User}}' "$tag")"
