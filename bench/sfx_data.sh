#!/usr/bin/env bash
# A third real labelled set, of general sound effects (not speech, not drums), for bench/recipes.py --data sfx:
# Debian's 0ad-data package (bookworm, 1.38 GB download, about 1 min) ships 0 A.D.'s recorded sound effects,
# Copyright (C) 2009 Wildfire Games, CC BY-SA 3.0 (its audio/LICENSE.txt, copied next to them as COPYRIGHT; keep
# it with anything derived, never commit the audio). Ten classes of the kind an environmental-sound set has, taken
# from the game's own folders and file names (the rule is below, fixed before anything was scored): animals
# (calls and deaths), screams (human deaths), footsteps, fire, weapon swings, metal hits, wood hits, wood
# chopping, mining (pick on stone and metal), ambience (rain, wind, rivers, waves, farm / port / market
# backgrounds); at most 40 files a class, evenly spread over the sorted names. 0.1 s to 168 s, mixed lengths.
#     bash bench/sfx_data.sh [OUT]      # prints OUT (default ~/.cache/audioclust-data/sfx); run again: no-op
set -euo pipefail
OUT=${1:-$HOME/.cache/audioclust-data/sfx}
PKG=0ad-data
ver=$(apt-cache policy "$PKG" | awk '/Candidate:/{print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || { echo "$PKG: not available from apt (apt-get update?)" >&2; exit 1; }
if [ -f "$OUT/.complete" ] && [ "$(cat "$OUT/.complete")" = "$PKG $ver" ]; then echo "$OUT"; exit 0; fi
TMP=$(mktemp -d -p "${TMPDIR:-/tmp}"); trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
(cd "$TMP" && apt-get download -q "$PKG" > /dev/null 2>&1 || apt-get download -q -o APT::Sandbox::User=root "$PKG" > /dev/null)
dpkg-deb --fsys-tarfile "$TMP"/${PKG}_*.deb | tar -x -C "$TMP" ./usr/share/games/0ad/mods/public/public.zip
rm -rf "$OUT.part" && mkdir -p "$OUT.part"
python3 - "$TMP/usr/share/games/0ad/mods/public/public.zip" "$OUT.part" <<'PY'
import re, sys, zipfile
from pathlib import Path

CLASSES = {   # class -> pattern on the path inside the game's archive
    "animals": r"^audio/actor/(fauna/(animal|death)|mounted/death)/",
    "screams": r"^audio/actor/human/death/",
    "footsteps": r"^audio/actor/(singlesteps|human/movement)/",
    "fire": r"^audio/attack/fire/",
    "swings": r"^audio/attack/weapon/[a-z]+_attack_",
    "metal_hits": r"^audio/attack/impact/[a-z]+_metal_",
    "wood_hits": r"^audio/attack/impact/[a-z]+_wood_",
    "chopping": r"^audio/resource/(lumbering/lumber_tree_|construction/con_wood_)",
    "mining": r"^audio/resource/mining/",
    "ambience": r"^audio/ambient/",
}
z = zipfile.ZipFile(sys.argv[1])
out = Path(sys.argv[2])
names = sorted({n for n in z.namelist() if n.endswith(".ogg")})
for cls, pattern in CLASSES.items():
    files = [n for n in names if re.search(pattern, n)]
    keep = sorted({round(i * (len(files) - 1) / 39) for i in range(40)}) if len(files) > 40 else range(len(files))
    (out / cls).mkdir()
    for i in keep:   # audio/attack/impact/arrow_wood_01.ogg -> wood_hits/impact_arrow_wood_01.ogg
        n = files[i]
        (out / cls / f"{Path(n).parent.name}_{Path(n).name}").write_bytes(z.read(n))
    print(f"{cls}: {len(keep)} of {len(files)}")
(out / "COPYRIGHT").write_bytes(z.read("audio/LICENSE.txt"))
PY
echo "Debian $PKG $ver: 0 A.D. sound effects in 10 classes (bench/sfx_data.sh), (C) 2009 Wildfire Games, CC BY-SA 3.0" > "$OUT.part/SOURCE"
echo "$PKG $ver" > "$OUT.part/.complete"
rm -rf "$OUT" && mv "$OUT.part" "$OUT"
echo "$OUT"
