#!/bin/sh
# Vendor Chart.js into the portal's static files at build time (never a CDN:
# the portal works on a machine without internet). The version and the
# registry's sha512 integrity are pinned here; npm verifies the tarball
# against the registry and this script checks the pinned integrity too.
#
# Usage: scripts/vendor-chartjs.sh DEST_DIR
set -eu

VERSION=4.5.1
INTEGRITY="sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw=="

dest="$1"
work="build/npm"
mkdir -p "$work" "$dest"
tarball="$work/chart.js-$VERSION.tgz"
if [ ! -f "$tarball" ]; then
    (cd "$work" && npm pack --silent "chart.js@$VERSION" >/dev/null)
fi
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "vendor-chartjs: integrity mismatch for chart.js $VERSION" >&2
    rm -f "$tarball"
    exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/chart.umd.min.js package/LICENSE.md
cp "$work/package/dist/chart.umd.min.js" "$dest/chart.umd.js"
cp "$work/package/LICENSE.md" "$dest/chart.js-LICENSE.md"
echo "vendor-chartjs: chart.js $VERSION -> $dest/chart.umd.js"
