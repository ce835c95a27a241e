#!/usr/bin/env bash
# System packages the test suite drives for real: headless Chromium (browser tests) and
# PostgreSQL binaries (started on loopback by the tests when no server answers).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# CJK fonts: the inspector page is bilingual; without them browser screenshots show tofu boxes.
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (install them with apt-get; tests that need them will skip)" >&2
  fi
fi
mkdir -p .cache/ultralytics
# s3rver: a disk-backed S3-compatible server from the npm registry, for the S3 evidence-storage tests.
if command -v npm >/dev/null 2>&1 && [ ! -x tools/s3rver/node_modules/.bin/s3rver ]; then
  npm ci --prefix tools/s3rver --no-audit --no-fund --loglevel=error >/dev/null || echo "s3rver install failed; S3 tests will skip" >&2
fi
