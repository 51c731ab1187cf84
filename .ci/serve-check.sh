#!/usr/bin/env bash
# The README's first command on its own: a venv with only the runtime dependencies (`pip install .`,
# no test extras beside them) serves discovery and the example patient-view request. The test extras
# install more than the service needs, and can hide a dependency the service lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$(mktemp -d)"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet .
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data="$(mktemp -d)"
(cd "$data" && RELAPSE_CDS_DATA_DIR="$data" exec "$venv/bin/relapse-cds" serve --port "$port" > "$data/serve.log" 2>&1) &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$venv" "$data"' EXIT

"$venv/bin/python" - "$port" examples/patient-view-request.json "$server" <<'PY' || { tail -n 30 "$data/serve.log"; exit 1; }
import json, sys, time, urllib.request

port, example, server = sys.argv[1:4]


def exited() -> bool:
    try:
        with open(f"/proc/{server}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(base + "/health", timeout=2)
        break
    except OSError:
        if exited():
            sys.exit("relapse-cds serve exited")
        if time.monotonic() > deadline:
            sys.exit("relapse-cds serve did not answer within 60 s")
        time.sleep(0.5)
services = json.load(urllib.request.urlopen(base + "/cds-services", timeout=10))["services"]
with open(example, "rb") as f:
    request = urllib.request.Request(base + "/cds-services/relapse-all-assessment", data=f.read(),
                                     headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=30))
assert services and answer["cards"], answer
print(f"ok: pip install . && relapse-cds serve: {len(services)} services, {len(answer['cards'])} cards for the example")
PY
