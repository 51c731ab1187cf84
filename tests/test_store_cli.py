"""`relapse-cds db upgrade`, `report` and `purge`, run as a user would, from outside the checkout (so the
migrations must come with the installed package), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from sqlalchemy import create_engine, insert

from service.store import migrate
from service.store.engine import normalise_url
from service.store.schema import card, feedback, invocation
from service.store.times import utcnow
from store_backends import database_url  # noqa: F401 - fixture


def cli(tmp_path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAPSE_CDS_")}
    env.update(RELAPSE_CDS_DATABASE_URL=url, RELAPSE_CDS_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def seed(url: str) -> None:
    """Two cards of one invocation; one overridden twice with reasons, one accepted; one unknown card."""
    engine = create_engine(normalise_url(url))
    with engine.begin() as c:
        inv = c.execute(insert(invocation).values(
            id="i-1", recorded_at=utcnow(), service_id="relapse-all-assessment", hook="patient-view", hook_instance="h",
            cog_risk="undetermined", hsct="undetermined", flags="[]", missing='["endReinductionMrd"]',
            knowledge_version="k", processing_ms=5.0)).inserted_primary_key[0]
        c.execute(insert(card), [
            {"uuid": "c-1", "invocation_id": inv, "kind": "missing", "indicator": "info", "rules": '["hsct.late-b-marrow-mrd"]'},
            {"uuid": "c-2", "invocation_id": inv, "kind": "assessment", "indicator": "warning", "rules": '["cog.b-precursor.marrow"]'},
        ])
        rows = [("c-1", "overridden", "not-relevant"), ("c-1", "overridden", "already-done"), ("c-2", "accepted", None), ("zz", "overridden", None)]
        c.execute(insert(feedback), [
            {"item_hash": f"h{i}", "service_id": "relapse-all-assessment", "card_uuid": u, "outcome": o, "accepted_suggestions": "[]",
             "override_code": code, "outcome_timestamp": utcnow(), "received_at": utcnow()} for i, (u, o, code) in enumerate(rows)
        ])
    engine.dispose()


def test_db_upgrade_report_and_purge(tmp_path, database_url):  # noqa: F811
    upgraded = cli(tmp_path, database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert not (tmp_path / "data" / "patient-hash.key").exists()  # the commands hash nothing
    assert f"revision {migrate.head()}" in upgraded.stdout
    seed(database_url)

    as_json = json.loads(cli(tmp_path, database_url, "report", "--json").stdout)
    assert (as_json["cards"], as_json["feedback"], as_json["unknownCardFeedback"]) == (2, 4, 1)
    assert as_json["rules"][0] == {"rule": "hsct.late-b-marrow-mrd", "cards": 1, "accepted": 0, "overridden": 2,
                                   "overrideReasons": {"not-relevant": 1, "already-done": 1}}
    assert as_json["missingBlocked"] == {"endReinductionMrd": 1}

    table = cli(tmp_path, database_url, "report").stdout
    first_rule_row = table.splitlines()[6]
    assert first_rule_row.split()[:4] == ["hsct.late-b-marrow-mrd", "1", "0", "2"] and "not-relevant (1)" in first_rule_row

    rows = list(csv.DictReader(io.StringIO(cli(tmp_path, database_url, "report", "--csv").stdout)))
    assert [r["rule"] for r in rows] == ["hsct.late-b-marrow-mrd", "cog.b-precursor.marrow"]
    assert rows[1]["accepted"] == "1"

    future = json.loads(cli(tmp_path, database_url, "report", "--json", "--since", "2999-01-01").stdout)
    assert (future["cards"], future["feedback"]) == (0, 0)
    empty = cli(tmp_path, database_url, "report", "--since", "2999-01-01").stdout
    assert "Processing time: no invocation recorded" in empty and "None" not in empty
    kept = cli(tmp_path, database_url, "purge")
    assert kept.returncode == 0 and "0 invocations" in kept.stdout


def test_a_bad_database_url_is_a_clear_error(tmp_path):
    result = cli(tmp_path, "postgresql://nobody@127.0.0.1:1/nothing", "report")
    assert result.returncode == 1 and "could not be used" in result.stderr and "Traceback" not in result.stderr
    assert cli(tmp_path, "sqlite:///x.db", "report", "--since", "soon").returncode == 2
    assert cli(tmp_path, "sqlite:///x.db", "purge", "--days", "0").returncode == 2
