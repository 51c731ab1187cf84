"""The store on SQLite and PostgreSQL: migrations, the audit trail, feedback, the jti cache, the report,
retention, and the failure policy (database down or read-only: cards still go out, failures counted)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect, select, text, update

from conftest import FIXTURES, SERVICE_URL, check_body, load_fixture
from fhir_builders import hook_request, patient, record
from server_process import free_port
from service import create_app
from service.config import Settings
from service.store import StoreSettings, migrate, open_store, report
from service.store.schema import card, feedback, invocation, jti
from store_backends import database_url  # noqa: F401 - fixture

from test_fixture_patients import as_request

FEEDBACK_URL = SERVICE_URL + "/feedback"
KEY = "test-key-" + "0" * 40


def make_app(url: str, tmp_path):
    return create_app(Settings(), StoreSettings(data_dir=tmp_path / "data", database_url=url, patient_hash_key=KEY))


def store_of(app):
    return app.extensions["relapse_cds.store"]


def metric(client, name: str, **labels) -> float:
    """The value of one sample in GET /metrics (0 when absent)."""
    body = client.get("/metrics").get_data(as_text=True)
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        sample, _, value = line.rpartition(" ")
        base, _, label_part = sample.partition("{")
        got = ",".join(sorted(label_part.rstrip("}").split(","))) if label_part else ""
        if base == name and got == wanted:
            return float(value)
    return 0.0


def invoke(client, fixture: str = "b-early-marrow-tp53-ikzf1") -> list[dict]:
    response = client.post(SERVICE_URL, json=as_request(load_fixture(FIXTURES / f"{fixture}.json")["bundle"]))
    check_body(SERVICE_URL, response.status_code, response.get_json())
    assert response.status_code == 200
    return response.get_json()["cards"]


def item(card_uuid: str, outcome: str = "overridden", code: str | None = "not-relevant", when: str = "2026-11-30T10:00:00Z", **extra) -> dict:
    out = {"card": card_uuid, "outcome": outcome, "outcomeTimestamp": when, **extra}
    if outcome == "accepted":
        out.setdefault("acceptedSuggestions", [{"id": "s-1"}])
    elif code:
        out["overrideReason"] = {"reason": {"system": "https://example.org/override", "code": code}}
    return out


@pytest.fixture()
def app(database_url, tmp_path):  # noqa: F811 - the store-backed app of each backend
    return make_app(database_url, tmp_path)


@pytest.fixture()
def client(app):
    return app.test_client()


# -- migrations --------------------------------------------------------------------------------------

def test_the_schema_is_at_head_after_start_and_a_second_upgrade_changes_nothing(app):
    store = store_of(app)
    assert migrate.current(store.engine) == migrate.head() == "0001"
    assert {"invocation", "card", "feedback", "jti", "alembic_version"} <= set(inspect(store.engine).get_table_names())
    assert migrate.upgrade(store.engine) == "0001"


def test_the_migrations_ship_inside_the_package():
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert any(migrate.MIGRATIONS.glob("versions/0001_*.py"))


# -- the audit trail ---------------------------------------------------------------------------------

def test_an_invocation_with_cards_is_audited_without_the_patient_id(app, client):
    cards = invoke(client)
    assert store_of(app).audit.flush()
    with store_of(app).engine.connect() as c:
        rows = c.execute(select(invocation)).mappings().all()
        stored_cards = c.execute(select(card)).mappings().all()
        dump = json.dumps([dict(r) for t in (invocation, card) for r in c.execute(select(t)).mappings()], default=str)
    assert len(rows) == 1
    row = rows[0]
    patient_id = "b5d59c6b-564f-5886-b72e-65b0e44f9988"  # the fixture's Patient.id
    assert row["patient_hash"] == hmac.new(KEY.encode(), patient_id.encode(), hashlib.sha256).hexdigest()
    assert patient_id not in dump and "pat-1" not in dump
    assert (row["service_id"], row["hook"]) == ("relapse-all-assessment", "patient-view")
    assert re.fullmatch(r"[0-9a-f-]{36}", row["hook_instance"])
    assert (row["cog_risk"], row["hsct"]) == ("high", "recommended")
    assert set(json.loads(row["flags"])) >= {"tp53-alteration", "ikzf1-deletion"}
    assert row["knowledge_version"] == app.extensions["relapse_cds.knowledge"].version
    assert 0 < row["processing_ms"] < 10_000
    assert row["client_iss"] is None  # open mode: no JWT policy, no client
    assert {c["uuid"]: (c["kind"], c["indicator"], json.loads(c["rules"])) for c in stored_cards} == {
        c["uuid"]: (c["extension"]["org.relapse-cds.card"]["kind"], c["indicator"], c["extension"]["org.relapse-cds.card"]["rules"])
        for c in cards
    }


def test_every_card_names_its_rules(client):
    cards = invoke(client)
    assert all(c["extension"]["org.relapse-cds.card"]["rules"] for c in cards)
    flags = next(c for c in cards if c["extension"]["org.relapse-cds.card"]["kind"] == "flags")
    assert "flag.tp53-alteration" in flags["extension"]["org.relapse-cds.card"]["rules"]


def test_no_cards_no_audit_record(app, client):
    response = client.post(SERVICE_URL, json=hook_request(record(patient())))
    assert response.status_code == 200 and response.get_json()["cards"] == []
    assert store_of(app).audit.flush()
    with store_of(app).engine.connect() as c:
        assert c.execute(select(invocation)).first() is None


def test_the_client_is_recorded_when_the_jwt_policy_left_it(app, client):
    @app.before_request
    def _as_if_verified():
        from flask import g
        from service.auth import TrustedClient, VerifiedClient
        client = TrustedClient("https://ehr.example.org", None, "https://ehr.example.org/jwks", tenant="ward-7")
        g.cds_client = VerifiedClient("https://ehr.example.org", "ward-7", "jti-1", client)

    cards = invoke(client)
    client.post(FEEDBACK_URL, json={"feedback": [item(cards[0]["uuid"])]})
    assert store_of(app).audit.flush()
    with store_of(app).engine.connect() as c:
        assert c.execute(select(invocation.c.client_iss, invocation.c.client_tenant)).one() == ("https://ehr.example.org", "ward-7")
        assert c.execute(select(feedback.c.client_iss, feedback.c.client_tenant)).one() == ("https://ehr.example.org", "ward-7")


# -- feedback ----------------------------------------------------------------------------------------

def test_feedback_is_stored_once_and_unknown_cards_apart(app, client):
    cards = invoke(client)
    assert store_of(app).audit.flush()
    before = {n: metric(client, n) for n in ("relapse_cds_feedback_duplicates_total", "relapse_cds_feedback_unknown_card_total")}
    accepted_before = metric(client, "relapse_cds_feedback_total", outcome="accepted")
    body = {"feedback": [item(cards[0]["uuid"], "accepted"), item(cards[1]["uuid"], code="other"), item("no-such-card")]}
    first = client.post(FEEDBACK_URL, json=body)
    assert first.status_code == 200, first.get_json()
    check_body(FEEDBACK_URL, 200, first.get_json())
    assert first.get_json() == {"stored": 3, "duplicates": 0, "unknownCards": 1}
    again = client.post(FEEDBACK_URL, json=body)
    assert again.status_code == 200 and again.get_json() == {"stored": 0, "duplicates": 3, "unknownCards": 0}
    with store_of(app).engine.connect() as c:
        rows = c.execute(select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.override_code)).all()
    assert sorted(rows) == sorted([(cards[0]["uuid"], "accepted", None), (cards[1]["uuid"], "overridden", "other"),
                                   ("no-such-card", "overridden", "not-relevant")])
    assert metric(client, "relapse_cds_feedback_duplicates_total") - before["relapse_cds_feedback_duplicates_total"] == 3
    assert metric(client, "relapse_cds_feedback_unknown_card_total") - before["relapse_cds_feedback_unknown_card_total"] == 1
    assert metric(client, "relapse_cds_feedback_total", outcome="accepted") - accepted_before == 1


def test_a_later_different_action_on_the_same_card_is_kept(app, client):
    cards = invoke(client)
    client.post(FEEDBACK_URL, json={"feedback": [item(cards[0]["uuid"], when="2026-11-30T10:00:00Z")]})
    response = client.post(FEEDBACK_URL, json={"feedback": [item(cards[0]["uuid"], when="2026-11-30T11:00:00.5+01:00")]})
    assert response.get_json()["stored"] == 1
    with store_of(app).engine.connect() as c:
        times = sorted(c.execute(select(feedback.c.outcome_timestamp)).scalars())
    assert times == [datetime(2026, 11, 30, 10, 0), datetime(2026, 11, 30, 10, 0, 0, 500000)]


def test_the_sandboxs_feedback_is_accepted(client):
    """What the CDS Hooks sandbox sends: a reason Coding without system; JavaScript's toISOString."""
    body = {"feedback": [{"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden",
                          "overrideReason": {"reason": {"code": "d7ecf885"}}, "outcomeTimestamp": "2026-12-01T21:17:40.123Z"}]}
    assert client.post(FEEDBACK_URL, json=body).status_code == 200
    accepted = {"feedback": [{"card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb", "outcome": "accepted",
                              "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                              "outcomeTimestamp": "2026-12-01T21:17:40.123Z"}]}
    assert client.post(FEEDBACK_URL, json=accepted).status_code == 200


@pytest.mark.parametrize("bad, named", [
    ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-30T10:00:00Z"}, "feedback.0.acceptedSuggestions"),
    ({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-30T10:00:00Z"}, "feedback.0.outcome"),
    ({"card": "c", "outcome": "overridden"}, "feedback.0.outcomeTimestamp"),
    ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00"}, "feedback.0.outcomeTimestamp"),
    ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}, "feedback.0.outcomeTimestamp"),
    ({"outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00Z"}, "feedback.0.card"),
    ({"card": "c", "outcome": "overridden", "overrideReason": {}, "outcomeTimestamp": "2026-11-30T10:00:00Z"}, "feedback.0.overrideReason"),
    ({"card": "c", "outcome": "overridden", "overrideReason": {"reason": {"system": "s"}}, "outcomeTimestamp": "2026-11-30T10:00:00Z"},
     "feedback.0.overrideReason.reason.code"),
])
def test_a_malformed_item_is_a_400_naming_it(client, bad, named):
    good = item("fine")
    response = client.post(FEEDBACK_URL, json={"feedback": [good, bad]})
    assert response.status_code == 400
    check_body(FEEDBACK_URL, 400, response.get_json())
    diagnostics = [i["diagnostics"] for i in response.get_json()["issue"]]
    assert any(d.startswith(named.replace(".0.", ".1.")) for d in diagnostics), diagnostics


@pytest.mark.parametrize("body", [[], {"feedback": []}, {"feedback": "x"}, {"cards": []}, {"feedback": [item("c")] * 501}])
def test_not_a_feedback_request_is_a_400(client, body):
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    check_body(FEEDBACK_URL, 400, response.get_json())


def test_feedback_for_another_service_is_a_404(client):
    response = client.post("/cds-services/nope/feedback", json={"feedback": [item("c")]})
    assert response.status_code == 404


def test_the_browsers_preflight_on_the_feedback_url_is_answered(client):
    response = client.options(FEEDBACK_URL, headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}


# -- the jti replay cache ----------------------------------------------------------------------------

def test_a_jti_is_good_once_and_expired_entries_go(app):
    cache = store_of(app).jti_cache
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert cache.first_use("https://ehr.example.org", "abc", later) is True
    assert cache.first_use("https://ehr.example.org", "abc", later) is False
    assert cache.first_use("https://other.example.org", "abc", later.timestamp()) is True
    cache.first_use("https://ehr.example.org", "old", datetime.now(timezone.utc) - timedelta(seconds=1))
    cache.first_use("https://ehr.example.org", "next", later)  # passing by removes the expired row
    with store_of(app).engine.connect() as c:
        assert sorted(c.execute(select(jti.c.jti)).scalars()) == ["abc", "abc", "next"]


def test_concurrent_first_uses_of_one_jti_admit_exactly_one(app):
    cache = store_of(app).jti_cache
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.first_use("iss", "same", later))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [False] * 7 + [True]


# -- report and retention ----------------------------------------------------------------------------

def test_the_report_counts_cards_and_feedback_by_rule(app, client):
    first, second = invoke(client), invoke(client, "b-late-marrow-high-mrd-high-blasts")
    assert store_of(app).audit.flush()
    assessment = next(c for c in first if c["extension"]["org.relapse-cds.card"]["kind"] == "assessment")
    rules = assessment["extension"]["org.relapse-cds.card"]["rules"]
    client.post(FEEDBACK_URL, json={"feedback": [
        item(assessment["uuid"], code="not-relevant"), item(assessment["uuid"], code="patient-declined", when="2026-11-30T12:00:00Z"),
        item(assessment["uuid"], "accepted"), item("unknown-card"),
    ]})
    data = report.build(store_of(app).engine)
    assert data["cards"] == len(first) + len(second)
    assert (data["feedback"], data["unknownCardFeedback"], data["invocations"]) == (4, 1, 2)
    by_rule = {r["rule"]: r for r in data["rules"]}
    for rule in rules:
        assert by_rule[rule]["accepted"] == 1 and by_rule[rule]["overridden"] == 2
        assert by_rule[rule]["overrideReasons"] == {"not-relevant": 1, "patient-declined": 1}
    assert data["rules"][0]["rule"] in rules  # the most overridden first
    all_rules = [r for c in first + second for r in c["extension"]["org.relapse-cds.card"]["rules"]]
    assert sum(r["cards"] for r in data["rules"]) == len(all_rules)
    assert data["processingMs"]["median"] > 0 and data["processingMs"]["p95"] >= data["processingMs"]["median"]
    table = report.as_table(data)
    assert table.splitlines()[6].split()[0] == data["rules"][0]["rule"]
    assert "not-relevant (1)" in table
    rows = report.as_csv(data).splitlines()
    assert rows[0] == "rule,cards,accepted,overridden,override_reasons" and len(rows) == len(data["rules"]) + 1


def test_report_since_and_purge_follow_the_dates(app, client):
    cards = invoke(client)
    store = store_of(app)
    assert store.audit.flush()
    client.post(FEEDBACK_URL, json={"feedback": [item("x")]})
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=400)
    with store.engine.begin() as c:
        c.execute(update(invocation).values(recorded_at=old))
        c.execute(update(feedback).values(received_at=old))
        c.execute(insert(jti).values(iss="i", jti="gone", expires_at=old))
    assert report.build(store.engine, datetime.now() - timedelta(days=1))["cards"] == 0
    assert report.build(store.engine)["cards"] == len(cards)
    result = store.purge()
    assert (result.invocations, result.cards, result.feedback, result.jti) == (1, len(cards), 1, 1)
    with store.engine.connect() as c:
        assert all(c.execute(select(text("count(*)")).select_from(t)).scalar() == 0 for t in (invocation, card, feedback, jti))


# -- the failure policy ------------------------------------------------------------------------------

def _down_url() -> str:
    return f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"  # nothing listens there


def _assert_cards_out_and_failures_counted(app):
    client = app.test_client()
    before_audit = metric(client, "relapse_cds_audit_write_failures_total")
    before_feedback = metric(client, "relapse_cds_feedback_write_failures_total")
    cards = invoke(client)
    assert cards
    assert store_of(app).audit.flush(timeout=30)
    assert metric(client, "relapse_cds_audit_write_failures_total") - before_audit == 1
    response = client.post(FEEDBACK_URL, json={"feedback": [item(cards[0]["uuid"])]})
    assert response.status_code == 503
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome" and "send it again" in outcome["issue"][0]["diagnostics"]
    assert metric(client, "relapse_cds_feedback_write_failures_total") - before_feedback == 1


def test_database_down_from_the_start_cards_still_go_out(tmp_path):
    _assert_cards_out_and_failures_counted(make_app(_down_url(), tmp_path))


def test_read_only_sqlite_cards_still_go_out(tmp_path):
    path = tmp_path / "ro.sqlite3"
    make_app(f"sqlite:///{path}", tmp_path)  # migrated while writable
    _assert_cards_out_and_failures_counted(make_app(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path))


def test_read_only_postgresql_cards_still_go_out(tmp_path):
    from store_backends import admin_execute, drop_postgres_database, new_postgres_database

    url, name = new_postgres_database()
    try:
        make_app(url, tmp_path)
        admin_execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        _assert_cards_out_and_failures_counted(make_app(url, tmp_path))
    finally:
        drop_postgres_database(name)


def test_a_database_that_goes_away_is_counted_and_cards_keep_going_out(tmp_path):
    path = tmp_path / "gone" / "store.sqlite3"
    app = make_app(f"sqlite:///{path}", tmp_path)
    client = app.test_client()
    invoke(client)
    assert store_of(app).audit.flush()
    with store_of(app).engine.begin() as c:
        c.execute(text("DROP TABLE card"))  # the schema is gone under a running service
    before = metric(client, "relapse_cds_audit_write_failures_total")
    assert invoke(client)
    assert store_of(app).audit.flush()
    assert metric(client, "relapse_cds_audit_write_failures_total") - before == 1


# -- settings ----------------------------------------------------------------------------------------

def test_store_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RELAPSE_CDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RELAPSE_CDS_DATABASE_URL", raising=False)
    monkeypatch.setenv("RELAPSE_CDS_PATIENT_HASH_KEY", "a-secret-key-of-some-length-0123456789")
    monkeypatch.setenv("RELAPSE_CDS_RETENTION_DAYS", "30")
    settings = StoreSettings.from_env()
    assert settings.url == f"sqlite:///{tmp_path / 'relapse-cds.sqlite3'}" and settings.retention_days == 30
    monkeypatch.setenv("RELAPSE_CDS_DATABASE_URL", "postgresql://app:secret@db.example.org:5432/cds")
    printed = json.dumps(Settings.from_env().describe())
    assert "secret" not in printed and "db.example.org" in printed
    monkeypatch.setenv("RELAPSE_CDS_RETENTION_DAYS", "-1")
    with pytest.raises(ValueError, match="RETENTION_DAYS"):
        StoreSettings.from_env()


def test_a_generated_patient_key_is_kept_in_the_data_directory(tmp_path):
    first = open_store(StoreSettings(data_dir=tmp_path), migrate_schema=False)
    key_file = tmp_path / "patient-hash.key"
    assert key_file.is_file() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    again = open_store(StoreSettings(data_dir=tmp_path), migrate_schema=False)
    assert first.hash_patient("p-1") == again.hash_patient("p-1") != first.hash_patient("p-2")
    assert first.hash_patient(None) is None


def test_other_database_kinds_are_refused(tmp_path):
    with pytest.raises(ValueError, match="sqlite:/// or postgresql://"):
        open_store(StoreSettings(data_dir=tmp_path, database_url="mysql://u@h/db"), migrate_schema=False)


def test_an_unusable_data_directory_stops_start_up_with_a_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="RELAPSE_CDS_DATA_DIR"):
        open_store(StoreSettings(data_dir=blocker / "data"), migrate_schema=False)


def test_the_store_knows_nothing_of_the_web():
    """Persistence is its own room: service/store/ imports no Flask (the API hands it what it needs)."""
    from test_architecture import SERVICE, imported_modules

    for path in (SERVICE / "store").rglob("*.py"):
        assert not {n.split(".")[0] for n in imported_modules(path)} & {"flask", "werkzeug", "marshmallow"}, path


def test_sqlite_runs_in_wal_mode_with_full_synchronous_commits(tmp_path):
    store = store_of(make_app(f"sqlite:///{tmp_path / 'wal.sqlite3'}", tmp_path))
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_the_default_database_is_a_file_in_a_data_directory_made_on_first_start(tmp_path):
    data = tmp_path / "not-yet"
    app = create_app(Settings(), StoreSettings(data_dir=data))
    assert (data / "relapse-cds.sqlite3").is_file() and (data / "patient-hash.key").is_file()
    assert migrate.current(store_of(app).engine) == migrate.head()



@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("rules")
    return create_app(Settings(), StoreSettings(data_dir=data, database_url=f"sqlite:///{data / 'store.sqlite3'}"))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_card_of_every_fixture_patient_names_its_rules(sqlite_app, path):
    """Feedback is counted by rule: a card without rule ids would be feedback tied to nothing."""
    cards = sqlite_app.test_client().post(SERVICE_URL, json=as_request(load_fixture(path)["bundle"])).get_json()["cards"]
    for given in cards:
        assert given["extension"]["org.relapse-cds.card"].get("rules"), given["extension"]


def test_the_order_check_card_names_its_rules(sqlite_app):
    from server_process import ROOT

    request_body = json.loads((ROOT / "examples" / "order-sign-request.json").read_text())
    service_id = next(s for s in sqlite_app.extensions["relapse_cds.services"].values() if s.hook == "order-sign").id
    cards = sqlite_app.test_client().post(f"/cds-services/{service_id}", json=request_body).get_json()["cards"]
    assert cards and all(c["extension"]["org.relapse-cds.card"].get("rules") for c in cards)


def test_the_audit_writer_waits_for_a_gap_between_requests_but_not_forever(tmp_path, monkeypatch):
    """Background commits wait until the process answers no request (their Python work would delay
    it), at most QUIET_WAIT_S: a busy process still gets its audit records written."""
    import time as time_module

    from sqlalchemy import create_engine, func, select

    from service.store import audit as audit_module
    from service.store.schema import invocation, metadata

    monkeypatch.setattr(audit_module, "BATCH_WINDOW_S", 0.01)
    monkeypatch.setattr(audit_module, "QUIET_WAIT_S", 0.5)
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    metadata.create_all(engine)

    def rows() -> int:
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(invocation)).scalar()

    def record(n: int) -> dict:
        return {"invocation": {"id": f"{n:032d}", "recorded_at": __import__("datetime").datetime(2026, 1, 1), "service_id": "s",
                               "hook": "patient-view", "hook_instance": "h", "client_iss": None, "client_tenant": None,
                               "patient_hash": None, "relapse_number": 1, "cog_risk": "high", "hsct": "recommended",
                               "flags": "[]", "missing": "[]", "knowledge_version": "k", "processing_ms": 1.0}, "cards": []}

    answering = {"now": True}
    writer = audit_module.AuditWriter(engine, busy=lambda: answering["now"])
    writer.submit(record(1))
    time_module.sleep(0.2)
    assert rows() == 0  # a request is being answered: the commit waits
    answering["now"] = False
    assert writer.flush(2.0) and rows() == 1  # the gap came: written
    answering["now"] = True
    started = time_module.monotonic()
    writer.submit(record(2))
    assert writer.flush(3.0) and rows() == 2  # never a gap: written after QUIET_WAIT_S anyway
    assert 0.4 <= time_module.monotonic() - started < 2.5


def test_requests_in_flight_counts_calls_being_answered_and_returns_to_zero(client):
    from service.api.metrics import requests_in_flight

    seen = []
    store = client.application.extensions["relapse_cds.store"]
    original = store.record_invocation
    store.record_invocation = lambda **kw: (seen.append(requests_in_flight()), original(**kw))
    client.post("/cds-services/relapse-all-assessment", data="{not json", content_type="application/json")
    from fhir_builders import diagnosis, hook_request, patient, record, relapse

    client.post("/cds-services/relapse-all-assessment", json=hook_request(record(patient(), diagnosis("2015-01-10"), relapse("2019-06-01"))))
    store.record_invocation = original
    assert seen == [1] and requests_in_flight() == 0  # counted while answering; errors and answers both end it
