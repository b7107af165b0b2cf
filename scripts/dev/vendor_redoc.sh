#!/usr/bin/env bash
# Refresh the Redoc bundle that `pi5trading serve` serves at /schema (no CDN: the API docs
# must work on a Pi without internet). Takes redoc.standalone.js and its licences from the
# npm package, pinned here; run it only to change the version, then commit the result.
set -euo pipefail
VERSION=2.5.4  # 2.x: the Redoc.init API litestar's RedocRenderPlugin page calls
SHA256=dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b  # redoc.standalone.js
DEST="$(cd "$(dirname "$0")/../.." && pwd)/python/pi5trading/api/_static/redoc"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q "redoc@$VERSION" >/dev/null && tar xzf "redoc-$VERSION.tgz")
echo "$SHA256  $work/package/bundles/redoc.standalone.js" | sha256sum -c --quiet
mkdir -p "$DEST"
cp "$work/package/bundles/redoc.standalone.js" "$DEST/"
cp "$work/package/LICENSE" "$DEST/LICENSE"
cp "$work/package/bundles/redoc.standalone.js.LICENSE.txt" "$DEST/"
echo "redoc $VERSION -> $DEST"
