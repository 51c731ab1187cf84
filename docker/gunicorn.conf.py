"""gunicorn settings for relapse-cds in a container (docker/Dockerfile).

Run: gunicorn -c docker/gunicorn.conf.py 'service:create_app()'
Every value can be changed through the environment without rebuilding the image.
"""

import multiprocessing
import os
import sys

# Listen on all interfaces inside the container; publish the port with the container runtime.
bind = os.environ.get("RELAPSE_CDS_BIND", "0.0.0.0:8080")

# The work is CPU-bound (no I/O on the request path yet): one worker per core, plus one.
workers = int(os.environ.get("RELAPSE_CDS_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "sync"

# Load the app (and validate cards/ and mappings/) once in the master: a broken knowledge file stops
# the container at start-up instead of failing every worker; workers share the loaded pages.
preload_app = True

# A patient-view answer takes milliseconds; anything near these limits is a stuck worker.
timeout = int(os.environ.get("RELAPSE_CDS_WORKER_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5

# Recycle workers now and then so that slow leaks cannot build up over months of uptime.
max_requests = 5000
max_requests_jitter = 500

# Request line limits (bodies are limited by the application: RELAPSE_CDS_MAX_BODY_BYTES -> 413).
limit_request_line = 8190
limit_request_fields = 100

# Logs to stdout/stderr for the container runtime. The access line carries method, path, status,
# size and time only: no query string (it may hold a patient id) and no body.
accesslog = "-" if os.environ.get("RELAPSE_CDS_ACCESS_LOG", "1") not in ("0", "false", "no") else None
errorlog = "-"
loglevel = os.environ.get("RELAPSE_CDS_GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# gunicorn's error log would echo a malformed request line (query string and all): redact it.
logger_class = "service.gunicorn_logging.RedactingLogger"

# Behind a TLS-terminating proxy: trust X-Forwarded-* only from the addresses given here.
forwarded_allow_ips = os.environ.get("RELAPSE_CDS_FORWARDED_ALLOW_IPS", "127.0.0.1")

# No admin control socket (gunicorn >= 25 would create one in $HOME, which the non-root user lacks).
control_socket_disable = True

# No temporary files on the container's overlay filesystem for worker heartbeats.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Open mode (no RELAPSE_CDS_CLIENTS) answers anyone: refused on a non-loopback bind unless
    RELAPSE_CDS_INSECURE_OPEN=1 (the container's `--insecure-open`; a container binds 0.0.0.0)."""
    if os.environ.get("RELAPSE_CDS_CLIENTS", "").strip():
        return
    from service.auth.modes import bind_host, open_mode_refusal, open_mode_warning

    insecure_open = os.environ.get("RELAPSE_CDS_INSECURE_OPEN", "").strip().lower() in ("1", "true", "yes", "on")
    for bind in server.cfg.bind:
        host = bind_host(bind)
        refusal = host is not None and open_mode_refusal(host, insecure_open)
        if refusal:
            print(f"relapse-cds: cannot start: {refusal.replace('pass --insecure-open', 'set RELAPSE_CDS_INSECURE_OPEN=1')}", file=sys.stderr)
            sys.exit(2)
    print(open_mode_warning(), file=sys.stderr)
