#!/usr/bin/env bash
# The oldest versions pyproject.toml allows, installed in a venv of their own, and a fast subset of the tests:
# the floors stay true. torch stays at the local CPU wheel 2.13.0 (older CPU builds are not on this index).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MIN_VENV:-.venv-min}
PY=${PY:-python3}
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
# every "name>=X" of the dependencies and the cpu/test extras becomes "name==X"
"$VENV/bin/python" - > "$VENV/floors.txt" <<'PYEOF'
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = p["dependencies"] + p["optional-dependencies"]["cpu"] + p["optional-dependencies"]["test"]
for d in deps:
    m = re.match(r"^([A-Za-z0-9_.-]+)>=([0-9][^,;\s]*)", d)
    if m and m.group(1) != "torch":
        print(f"{m.group(1)}=={m.group(2)}")
PYEOF
echo "min-versions: $(tr '\n' ' ' < "$VENV/floors.txt")"
"$VENV/bin/pip" install -q -c "$VENV/floors.txt" -e ".[cpu,test]"
"$VENV/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider tests/data tests/frontend tests/model tests/cluster \
    tests/report/test_explorer.py tests/tasks/test_validate.py tests/tasks/test_configs.py "$@"
