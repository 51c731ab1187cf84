"""`relapse-cds` command line: serve, assess, check, config."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from .config import Settings
from .knowledge import KnowledgeError, load_knowledge


def _serve(args: argparse.Namespace) -> int:
    # gevent workers: each connection is a greenlet, so a client that sends slowly holds no worker
    # (sync workers: two such clients stall the service). Sockets are made cooperative here, before
    # the app (and any HTTP client library it imports) is loaded, not only in the forked workers.
    from gevent import monkey

    monkey.patch_all()
    from gunicorn.app.base import BaseApplication

    from . import create_app

    try:
        app = create_app()
    except (KnowledgeError, ValueError) as exc:
        print(f"relapse-cds: cannot start: {exc}", file=sys.stderr)
        return 2

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            for name, value in SERVING.items():
                self.cfg.set(name, value)
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", "-" if args.access_log else None)
            # The access log line has no query string or body: no PHI.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms')
            # gunicorn's error log would echo a malformed request line (query string and all).
            self.cfg.set("logger_class", "service.gunicorn_logging.RedactingLogger")
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25: no admin socket in $HOME
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return app

    _Server().run()
    return 0


#: How `serve` runs gunicorn (docker/gunicorn.conf.py says the same for the container). gevent reads
#: each request in its own greenlet; `keepalive` also bounds the time a client may take to send its
#: request headers (gunicorn's gevent worker drops it after that many seconds).
SERVING = {"worker_class": "gevent", "worker_connections": 1000, "keepalive": 5}


def _read_input(path: str) -> dict:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("input JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("input must be a JSON object: a FHIR Bundle or a CDS Hooks request")
    return data


def _request_parts(data: dict) -> tuple[dict, str | None]:
    """Prefetch and patient id of a CDS Hooks request, checked with the service's own schemas
    (every member optional here: a file for `assess` need not carry hookInstance or userId)."""
    from marshmallow import ValidationError

    from .api.schemas import HookRequestSchema, PatientViewContextSchema

    try:
        request = HookRequestSchema(partial=True).load(data)
        context = PatientViewContextSchema(partial=True).load(request.get("context") or {})
    except ValidationError as exc:
        raise ValueError(f"not a valid CDS Hooks request: {exc.messages}") from None
    return request.get("prefetch") or {}, context.get("patientId")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _assess(args: argparse.Namespace) -> int:
    from .definition import relapse_service
    from .fhir.select import Selector
    from .pipeline import evaluate
    from .prefetch import bundle_as_prefetch
    from .render import EXTENSION_KEY, render

    try:
        data = _read_input(args.file)
        knowledge = load_knowledge(Settings.from_env().extra_mappings)
    except (OSError, ValueError, KnowledgeError) as exc:
        print(f"relapse-cds assess: {exc}", file=sys.stderr)
        return 2
    service = relapse_service(knowledge.codemap)
    as_of = args.as_of or date.today()
    if data.get("resourceType") == "Bundle":
        prefetch, patient_id = bundle_as_prefetch(data, service), None
    elif "prefetch" in data or "context" in data:
        try:
            prefetch, patient_id = _request_parts(data)
        except ValueError as exc:
            print(f"relapse-cds assess: {exc}", file=sys.stderr)
            return 2
    else:
        print("relapse-cds assess: input is neither a FHIR Bundle nor a CDS Hooks request", file=sys.stderr)
        return 2
    evaluation = evaluate(prefetch, patient_id, knowledge, service, Selector.from_codemap(knowledge.codemap), as_of)
    rendered = render(evaluation.assessment, knowledge, evaluation.patient_id, as_of.isoformat())
    output = {"cards": rendered.cards, "extension": rendered.extension} if args.cards else rendered.extension[EXTENSION_KEY]
    json.dump(output, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _check(args: argparse.Namespace) -> int:
    extra = [Path(p) for p in args.files] + list(Settings.from_env().extra_mappings)
    missing = [str(p) for p in extra if not p.is_file()]
    if missing:
        print(f"relapse-cds check: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    try:
        knowledge = load_knowledge(extra)
    except KnowledgeError as exc:
        print("relapse-cds check: knowledge files are invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    codes = sum(len(v) for v in knowledge.codemap.entries.values())
    print(f"ok: {len(knowledge.codemap.files)} mapping files, {codes} codes, {len(knowledge.cards.rules)} rule texts, "
          f"{len(knowledge.cards.references)} references; knowledge version {knowledge.version}")
    return 0


def _config(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"relapse-cds config: {exc}", file=sys.stderr)
        return 2
    json.dump(settings.describe(), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relapse-cds", description="CDS Hooks service for relapsed childhood ALL")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the CDS Hooks API under gunicorn")
    serve.add_argument("--host", default=os.environ.get("RELAPSE_CDS_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("RELAPSE_CDS_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("RELAPSE_CDS_WORKERS", "2")))
    serve.add_argument("--access-log", action="store_true", help="log each request line (no query strings, no bodies)")
    serve.set_defaults(func=_serve)
    assess = sub.add_parser("assess", help="print the assessment for a FHIR Bundle or CDS Hooks request (JSON file, or - for stdin)")
    assess.add_argument("file")
    assess.add_argument("--cards", action="store_true", help="print the cards too (the whole CDS Hooks response)")
    assess.add_argument("--as-of", type=_date, help="assessment date (YYYY-MM-DD), default today")
    assess.set_defaults(func=_assess)
    check = sub.add_parser("check", help="validate the knowledge files (and extra mapping files); non-zero exit on any error")
    check.add_argument("files", nargs="*", help="extra mapping files to validate with the shipped ones")
    check.set_defaults(func=_check)
    config = sub.add_parser("config", help="print the effective configuration")
    config.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
