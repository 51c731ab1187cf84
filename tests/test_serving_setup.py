"""The serving set-up: `relapse-cds serve` runs gevent workers and makes sockets cooperative before any
HTTP client library is loaded. gevent patches `ssl`; an HTTP client imported before that (requests,
urllib3) keeps the unpatched SSL context and recurses without end on its first HTTPS call."""

from __future__ import annotations

import subprocess
import sys

from service.cli import SERVING

_SERVE_ORDER = """
import sys
import service.cli  # what the `relapse-cds` command has loaded when `serve` starts
early = sorted(m for m in ("requests", "urllib3", "httpx") if m in sys.modules)
assert not early, f"imported before serve patches sockets: {early}"
from gevent import monkey
monkey.patch_all()
from service import create_app
create_app()
import requests
from urllib3.util.ssl_ import create_urllib3_context
create_urllib3_context()
print("ok")
"""


def test_serve_patches_sockets_before_any_http_client_is_loaded():
    result = subprocess.run([sys.executable, "-c", _SERVE_ORDER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_serve_uses_gevent_workers_that_drop_slow_request_headers():
    assert SERVING["worker_class"] == "gevent"
    assert 0 < SERVING["keepalive"] <= 10  # the gevent worker's bound on reading a request's headers
