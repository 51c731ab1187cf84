"""gunicorn settings for relapse-cds in a container (docker/Dockerfile).

Run: gunicorn -c docker/gunicorn.conf.py 'service:create_app()'
Every value can be changed through the environment without rebuilding the image.
"""

# gevent workers (each connection a greenlet: a slow client holds no worker). Make sockets cooperative
# before gunicorn loads the app and whatever HTTP client library it imports.
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import sys  # noqa: E402

from service.config import ConfigError, Settings  # noqa: E402

# Every RELAPSE_CDS_* setting is read and checked here, before gunicorn starts: a bad value stops the
# container with one line naming the variable and the form expected (exit 2), not a traceback.
try:
    settings = Settings.from_env()
except ConfigError as exc:
    sys.stderr.write(f"relapse-cds: {exc}\n")
    sys.exit(2)

# Listen on all interfaces inside the container; publish the port with the container runtime.
bind = settings.bind

# The work is mostly CPU-bound (fetching from the EHR waits at most RELAPSE_CDS_FETCH_DEADLINE_S): one
# worker per CPU the container may use (os.sched_getaffinity: a cpuset-limited container, not the host),
# plus one; RELAPSE_CDS_WORKERS overrides. gevent: a connection waiting for a slow client (or a fetch
# waiting for the EHR) costs a greenlet, not a worker (with "sync", two clients sending a byte a second
# stall the service).
workers = settings.workers
worker_class = "gevent"
worker_connections = 1000

# Load the app (and validate cards/ and mappings/) once in the master: a broken knowledge file stops
# the container at start-up instead of failing every worker; workers share the loaded pages.
preload_app = True

# A patient-view answer takes milliseconds; anything near these limits is a stuck worker.
timeout = settings.worker_timeout
graceful_timeout = 10
# Also the time a client may take to send a request's headers (the gevent worker drops it after this).
keepalive = 5

# Recycle workers now and then so that slow leaks cannot build up over months of uptime.
max_requests = 5000
max_requests_jitter = 500

# Request line limits (bodies are limited by the application: RELAPSE_CDS_MAX_BODY_BYTES -> 413).
limit_request_line = 8190
limit_request_fields = 100

# Logs to stdout/stderr for the container runtime. The access line carries method, path, status,
# size and time only: no query string (it may hold a patient id) and no body.
accesslog = "-" if settings.access_log else None
errorlog = "-"
loglevel = settings.gunicorn_log_level
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# gunicorn's error log would echo a malformed request line (query string and all): redact it. With
# RELAPSE_CDS_LOG_FORMAT=json its lines are JSON too, like the service's own (configured by the app).
logger_class = "service.gunicorn_logging.RedactingLogger"

# Behind a TLS-terminating proxy: trust X-Forwarded-* only from the addresses given here.
forwarded_allow_ips = settings.forwarded_allow_ips

# No admin control socket (gunicorn >= 25 would create one in $HOME, which the non-root user lacks).
control_socket_disable = True

# No temporary files on the container's overlay filesystem for worker heartbeats.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Open mode (no RELAPSE_CDS_CLIENTS) answers anyone: refused on a non-loopback bind unless
    RELAPSE_CDS_INSECURE_OPEN=1 (the container's `--insecure-open`; a container binds 0.0.0.0).
    Runs before gunicorn opens any socket."""
    if settings.clients is not None:
        return
    from service.auth.modes import bind_host, open_mode_refusal, open_mode_warning

    for address in server.cfg.bind:
        host = bind_host(address)
        refusal = host is not None and open_mode_refusal(host, settings.insecure_open)
        if refusal:
            sys.stderr.write(f"relapse-cds: cannot start: {refusal.replace('pass --insecure-open', 'set RELAPSE_CDS_INSECURE_OPEN=1')}\n")
            sys.exit(2)
    import logging

    logging.getLogger("relapse_cds").warning(open_mode_warning())  # the app (preloaded) set the log format
