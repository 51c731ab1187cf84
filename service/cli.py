"""`relapse-cds` command line: serve, assess, check, config (and the store's db, purge, report)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

from .config import ConfigError, Settings, default_workers, password_masked
from .input_file import bundle_gaps, read_json_object
from .knowledge import KnowledgeError, load_knowledge


def _serve(args: argparse.Namespace) -> int:
    # The settings first: a bad one stops here (ConfigError, one line from main()) before anything in
    # this process is patched.
    settings = Settings.from_env()
    # gevent workers: each connection is a greenlet, so a client that sends slowly holds no worker
    # (sync workers: two such clients stall the service). Sockets are made cooperative here, before
    # the app (and any HTTP client library it imports) is loaded, not only in the forked workers.
    from gevent import monkey

    monkey.patch_all()
    from gunicorn.app.base import BaseApplication

    from . import create_app, metrics

    metrics.fresh_directory()  # before the workers fork: they all count into it
    try:
        app = create_app(settings)
    except (KnowledgeError, ValueError) as exc:
        print(f"relapse-cds: cannot start: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if app.extensions["relapse_cds.trust"] is None:
        from .auth.modes import open_mode_refusal, open_mode_warning

        refusal = open_mode_refusal(host, args.insecure_open or settings.insecure_open)
        if refusal:
            print(f"relapse-cds: cannot start: {refusal}", file=sys.stderr)
            return 2
        logging.getLogger("relapse_cds").warning(open_mode_warning())  # in the configured log format

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            for name, value in SERVING.items():
                self.cfg.set(name, value)
            self.cfg.set("timeout", settings.worker_timeout)
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
    from .api.schemas import TIMELINE_ALL, whole_timeline
    from .fhir.select import Selector
    from .pipeline import evaluate
    from .prefetch import bundle_as_prefetch
    from .render import EXTENSION_KEY, render

    settings = Settings.from_env()  # first: a bad setting is reported whatever the input
    try:
        data = read_json_object(args.file)
        knowledge = load_knowledge(settings.extra_mappings)
    except (OSError, ValueError, KnowledgeError) as exc:
        print(f"relapse-cds assess: {exc}", file=sys.stderr)
        return 2
    service = relapse_service(knowledge.codemap)
    as_of = args.as_of or date.today()
    source = "stdin" if args.file == "-" else args.file
    # As the service answers: the records that can change the answer, unless the whole timeline is asked
    # for (here, or by the request's extension as the service reads it).
    whole = args.timeline == TIMELINE_ALL
    if data.get("resourceType") == "Bundle":
        try:
            gaps = bundle_gaps(data)
        except ValueError as exc:
            print(f"relapse-cds assess: {source}: {exc}", file=sys.stderr)
            return 2
        for gap in gaps:  # the answer stands; what it could not see is said, beside it
            print(f"relapse-cds assess: {source}: {gap}", file=sys.stderr)
        prefetch, patient_id = bundle_as_prefetch(data, service), None
    elif "prefetch" in data or "context" in data:
        try:
            prefetch, patient_id = _request_parts(data)
        except ValueError as exc:
            print(f"relapse-cds assess: {source}: {exc}", file=sys.stderr)
            return 2
        whole = whole or whole_timeline(data)
    else:
        print(f"relapse-cds assess: {source}: neither a FHIR Bundle nor a CDS Hooks request (no resourceType Bundle, no prefetch or context)", file=sys.stderr)
        return 2
    evaluation = evaluate(prefetch, patient_id, knowledge, service, Selector.from_codemap(knowledge.codemap), as_of, lazy=not whole)
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
    if args.pdq_summary and (status := _check_figures(knowledge, Path(args.pdq_summary))):
        return status
    clients_problem = _check_clients()
    if clients_problem:
        print(clients_problem, file=sys.stderr)
        return 1
    codes = sum(len(v) for v in knowledge.codemap.entries.values())
    print(f"ok: {len(knowledge.codemap.files)} mapping files, {codes} codes, {len(knowledge.cards.rules)} rule texts, "
          f"{len(knowledge.cards.references)} references; knowledge version {knowledge.version}")
    return 0


def _check_figures(knowledge, summary_path: Path) -> int:
    """Every figure on a treatment card must be in the PDQ summary (bar the two documented misprint corrections)."""
    from .knowledge.figures import card_texts, figures_not_in_summary

    try:
        summary = summary_path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"relapse-cds check: cannot read the PDQ summary: {exc.strerror}", file=sys.stderr)
        return 1
    treatment = knowledge.treatment
    texts = [*card_texts(treatment.options, "options.yaml"), *card_texts(treatment.work_up, "transplant.yaml: work_up"),
             *card_texts(treatment.order_check, "transplant.yaml: order_check")]
    problems = figures_not_in_summary(summary, texts)
    if problems:
        print("relapse-cds check: figures on the treatment cards are not in the PDQ summary:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"ok: {len(texts)} treatment card texts; every figure is in the PDQ summary (2 documented misprint corrections)")
    return 0


def _check_clients() -> str | None:
    """RELAPSE_CDS_CLIENTS, when set, must load (keys, URLs, tenants) and come with RELAPSE_CDS_PUBLIC_URL."""
    from .auth import build_trust
    from .auth.clients import ClientsError

    try:
        trust = build_trust(Settings.from_env())
    except ClientsError as exc:
        return "relapse-cds check: the clients file is invalid:\n" + "\n".join(f"  - {p}" for p in exc.problems)
    except ConfigError:
        raise
    except ValueError as exc:
        return f"relapse-cds check: {exc}"
    if trust is not None:
        print(f"ok: {len(trust.clients)} trusted client(s), tokens checked against {trust.public_url}")
    return None


def _config(args: argparse.Namespace) -> int:
    from .auth.clients import ClientsError, load_clients
    from .store.config import StoreSettings

    settings = Settings.from_env()
    described = settings.describe()
    store = StoreSettings.from_settings(settings)  # what an empty setting resolves to
    described["data_dir"] = str(store.data_dir)
    described["database_url"] = password_masked(store.url)
    if not settings.patient_hash_key:
        described["patient_hash_key"] = "(unset: a key generated once in the data directory)"
    if settings.clients is not None:  # who is trusted, with inline key material masked
        try:
            described["trusted_clients"] = [c.summary() for c in load_clients(settings.clients).clients.values()]
        except ClientsError as exc:
            print(f"relapse-cds config: the clients file is invalid: {'; '.join(exc.problems)}", file=sys.stderr)
            return 2
    json.dump(described, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("relapse-cds")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relapse-cds", description="CDS Hooks service for relapsed childhood ALL")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the CDS Hooks API under gunicorn")
    # Defaults are read from the environment when serving, not here: a bad variable must not break --help.
    serve.add_argument("--host", help=f"address to listen on (default: $RELAPSE_CDS_HOST, else {Settings.host})")
    serve.add_argument("--port", type=_positive, help=f"port to listen on (default: $RELAPSE_CDS_PORT, else {Settings.port})")
    serve.add_argument("--workers", type=_positive, help="gunicorn worker processes (default: $RELAPSE_CDS_WORKERS, "
                       f"else the CPUs this process may use + 1, here {default_workers()})")
    serve.add_argument("--access-log", action="store_true", help="log each request line (no query strings, no bodies) (default: off)")
    serve.add_argument("--insecure-open", action="store_true",
                       help="allow a non-loopback address without RELAPSE_CDS_CLIENTS: anyone can call; never in production (default: off)")
    serve.set_defaults(func=_serve)
    assess = sub.add_parser("assess", help="print the assessment for a FHIR Bundle or CDS Hooks request (JSON file, or - for stdin)")
    assess.add_argument("file")
    assess.add_argument("--cards", action="store_true", help="print the cards too (the whole CDS Hooks response) (default: off)")
    assess.add_argument("--as-of", type=_date, help="the day the answer is given for (YYYY-MM-DD): ages are counted to it and "
                        "records dated after it are read as errors; not a replay of the chart as it stood then (default: today)")
    assess.add_argument("--timeline", choices=("deciding", "all"), default="deciding",
                        help="deciding: read the records that can change the answer, as the service does; all: read and draw every "
                             "relevant record (default: deciding, or all when the request's extension asks for it)")
    assess.set_defaults(func=_assess)
    check = sub.add_parser("check", help="validate the knowledge files (and extra mapping files); non-zero exit on any error",
                           description="Validate cards/, mappings/ and any extra mapping files; with RELAPSE_CDS_CLIENTS set "
                                       "(and RELAPSE_CDS_PUBLIC_URL), also the clients file. Non-zero exit on any error.")
    check.add_argument("files", nargs="*", help="extra mapping files to validate with the shipped ones")
    check.add_argument("--pdq-summary", metavar="FILE", help="the NCI PDQ summary (text): check every figure on the treatment cards is in it (default: none, not checked)")
    check.set_defaults(func=_check)
    config = sub.add_parser("config", help="print the effective configuration")
    config.set_defaults(func=_config)
    from .store.cli import add_commands

    add_commands(sub, _date, _positive)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:  # every subcommand: one line naming the variable and the form expected
        print(f"relapse-cds: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
