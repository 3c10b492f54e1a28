#!/bin/bash
# Issue 15 item 8's proof: `npm run check` three times in a row in one clean clone while a
# second clone runs `npm test` in a loop beside it, on the same machine. Both clones are of
# HEAD, with node_modules hard-linked from this checkout (run `npm ci` here first). Writes one
# line per run to /tmp/suite-beside/log; the runs' output is beside it.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=/tmp/suite-beside
rm -rf "$OUT" && mkdir -p "$OUT"
export PATH="$ROOT/node_modules/.bin:$PATH"
for d in check beside; do
  git clone -q "$ROOT" "$OUT/$d" && cp -al "$ROOT/node_modules" "$OUT/$d/node_modules"
done
echo "commit $(git -C "$ROOT" rev-parse --short HEAD)" > "$OUT/log"
(
  cd "$OUT/beside"
  n=0
  while [ ! -f "$OUT/done" ] && [ $n -lt 8 ]; do
    n=$((n + 1)); s=$(date +%s)
    npm test > "$OUT/beside-$n.log" 2>&1
    echo "beside run $n exit $? $(($(date +%s) - s)) s" >> "$OUT/log"
  done
) &
beside=$!
cd "$OUT/check"
for i in 1 2 3; do
  s=$(date +%s)
  npm run check > "$OUT/check-$i.log" 2>&1
  echo "check run $i exit $? $(($(date +%s) - s)) s load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/log"
done
touch "$OUT/done"
wait $beside
cat "$OUT/log"
