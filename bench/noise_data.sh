#!/usr/bin/env bash
# Real background recordings for bench/detector.py --noise: Debian's megaglest-data package (bookworm, 242 MB
# download) ships 16 ambient loops of its tilesets (forest by day and night: birds, insects; rain; wind), 11.7 min,
# recorded by soundbible.com / freesound authors (its docs/AUTHORS.data.txt), CC BY-SA 3.0 Unported (its copyright
# file, copied next to them as COPYRIGHT; keep it with anything derived, never commit the audio).
#     bash bench/noise_data.sh [OUT]      # prints OUT (default ~/.cache/audioclust-data/noise); run again: no-op
set -euo pipefail
OUT=${1:-$HOME/.cache/audioclust-data/noise}
PKG=megaglest-data
ver=$(apt-cache policy "$PKG" | awk '/Candidate:/{print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || { echo "$PKG: not available from apt (apt-get update?)" >&2; exit 1; }
if [ -f "$OUT/.complete" ] && [ "$(cat "$OUT/.complete")" = "$PKG $ver" ]; then echo "$OUT"; exit 0; fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
b=usr/share/games/megaglest/tilesets
FILES="$b/birch_forest/sounds/night.ogg $b/birch_forest/sounds/day.ogg $b/birch_forest/sounds/rain.ogg
       $b/fernland/sounds/night.ogg $b/fernland/sounds/day.ogg $b/spring/sounds/day.ogg
       $b/dark_forest/sounds/night.ogg $b/dark_forest/sounds/day.ogg $b/mediterran/sounds/desertday.ogg
       $b/mediterran/sounds/night.ogg $b/winter/sounds/wind.ogg $b/autumn/sounds/nightime.ogg
       $b/autumn/sounds/sunny_day.ogg $b/autumn/sounds/rain.ogg $b/desert2/sounds/rain.wav
       $b/desert2/sounds/night.ogg"
(cd "$TMP" && apt-get download -q "$PKG" > /dev/null 2>&1 || apt-get download -q -o APT::Sandbox::User=root "$PKG" > /dev/null)
mkdir -p "$TMP/x" "$OUT"
dpkg-deb --fsys-tarfile "$TMP"/${PKG}_*.deb | tar -x -C "$TMP/x" "./usr/share/doc/$PKG/copyright" \
    "./usr/share/games/megaglest/docs/AUTHORS.data.txt" $(echo $FILES | tr ' ' '\n' | sed 's#^#./#')
for p in $FILES; do   # birch_forest/sounds/night.ogg -> birch_forest_night.ogg
  cp "$TMP/x/$p" "$OUT/$(basename "$(dirname "$(dirname "$p")")")_$(basename "$p")"
done
cp "$TMP/x/usr/share/doc/$PKG/copyright" "$OUT/COPYRIGHT"
cp "$TMP/x/usr/share/games/megaglest/docs/AUTHORS.data.txt" "$OUT/AUTHORS.data.txt"
echo "Debian $PKG $ver: 16 ambient field recordings of its tilesets (forest day and night: birds, insects; rain; wind), CC BY-SA 3.0" > "$OUT/SOURCE"
echo "$PKG $ver" > "$OUT/.complete"
echo "$OUT"
