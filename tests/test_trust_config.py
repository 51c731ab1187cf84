"""Trust configuration: the clients file (`relapse-cds check`, `config`), open mode, the key cache and
the replay cache, without the HTTP server (tests/test_auth_tokens.py covers the wire)."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from jwt_fixtures import ISS_C, PUBLIC_URL, JwksServer, Keys, public_jwk, write_clients
from server_process import ROOT, free_port
from service import create_app
from service.auth.clients import ClientsError, TrustedClient, load_clients
from service.auth.keys import MIN_REFRESH_SECONDS, KeySets
from service.auth.modes import is_loopback, open_mode_refusal
from service.auth.replay import SqliteReplayCache
from service.cli import main
from service.config import Settings
from service.fhir.fetch import _query_url, to_fetch


@pytest.fixture(scope="module")
def keys():
    return Keys()


@pytest.fixture()
def clients_env(tmp_path, keys, monkeypatch):
    path = write_clients(tmp_path, keys, "https://ehr-c.example.org/.well-known/jwks.json")
    monkeypatch.setenv("RELAPSE_CDS_CLIENTS", str(path))
    monkeypatch.setenv("RELAPSE_CDS_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("RELAPSE_CDS_REPLAY_DB", str(tmp_path / "replay.sqlite3"))
    return path


def test_check_validates_a_good_clients_file(clients_env, capsys):
    assert main(["check"]) == 0
    assert "3 trusted client(s)" in capsys.readouterr().out


BAD_FILES = [
    ("clients: []", "non-empty 'clients' list"),
    ("clients: [{jwks_url: https://x.example.org/j}]", "'iss' is required"),
    ("clients: [{iss: a}]", "exactly one of jwks_file, jwks, jwks_url"),
    ("clients: [{iss: a, jwks_url: 'https://x.example.org/j', jwks: {keys: [{kty: EC, kid: k}]}}]", "exactly one of"),
    ("clients: [{iss: a, jwks_file: missing.json}]", "cannot be read"),
    ("clients: [{iss: a, jwks_url: 'ftp://x.example.org/j'}]", "jwks_url must be an http(s) URL"),
    ("clients: [{iss: a, jwks: {keys: []}}]", "not a JWK Set"),
    ("clients: [{iss: a, jwks: {keys: [{kty: EC}]}}]", "needs 'kty' and 'kid'"),
    ("clients: [{iss: a, jwks: {keys: [{kty: EC, kid: k, d: secret}]}}]", "holds a private key"),
    ("clients: [{iss: a, jwks_url: 'https://x.example.org/j', fhir_servers: [not-a-url]}]", "fhir_servers must be a list"),
    ("clients: [{iss: a, jwks_url: 'https://x.example.org/j', tenant: ''}]", "tenant must be a non-empty string"),
    ("clients: [{iss: a, jwks_url: 'https://x.example.org/j', tennant: t}]", "unknown member(s) tennant"),
    ("clients: [{iss: a, jwks_url: 'https://x.example.org/j'}, {iss: a, jwks_url: 'https://y.example.org/j'}]", "listed twice"),
    ("clients: [oops", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES, ids=[b[1] for b in BAD_FILES])
def test_check_names_each_problem_in_a_bad_clients_file(tmp_path, monkeypatch, capsys, text, problem):
    path = tmp_path / "clients.yaml"
    path.write_text(text)
    monkeypatch.setenv("RELAPSE_CDS_CLIENTS", str(path))
    monkeypatch.setenv("RELAPSE_CDS_PUBLIC_URL", PUBLIC_URL)
    assert main(["check"]) == 1
    assert problem in capsys.readouterr().err
    with pytest.raises(ClientsError):
        load_clients(path)


def test_clients_without_public_url_cannot_start(clients_env, monkeypatch, capsys):
    monkeypatch.delenv("RELAPSE_CDS_PUBLIC_URL")
    assert main(["check"]) == 1
    assert "RELAPSE_CDS_PUBLIC_URL" in capsys.readouterr().err
    with pytest.raises(ValueError, match="RELAPSE_CDS_PUBLIC_URL"):
        create_app(Settings.from_env())


@given(st.text(max_size=300))
@settings(max_examples=150, deadline=None)
def test_any_clients_file_text_loads_or_is_refused_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "clients.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))
    try:
        load_clients(path)
    except ClientsError as exc:
        assert exc.problems


def test_config_masks_inline_keys(clients_env, keys, capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    described = json.loads(out)
    inline = public_jwk(keys.b, "b-1")
    assert inline["n"] not in out and inline["e"] not in out.replace('"e"', "")
    assert described["clients"] == str(clients_env)
    sources = [c["keys"] for c in described["trusted_clients"]]
    assert sources[1] == "jwks (inline, 1 key(s), not shown)" and sources[0].startswith("jwks_file ")
    assert described["public_url"] == PUBLIC_URL


def test_health_says_open_mode_and_the_server_warns(tmp_path):
    app = create_app(Settings())
    assert app.test_client().get("/health").get_json()["mode"] == "open"
    port = free_port()
    process = subprocess.run(  # non-loopback without clients: refused before anything listens
        [sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert process.returncode == 2 and "--insecure-open" in process.stderr


@pytest.mark.parametrize(("host", "insecure", "refused"), [
    ("127.0.0.1", False, False), ("localhost", False, False), ("::1", False, False), ("[::1]", False, False),
    ("127.0.0.2", False, False), ("0.0.0.0", False, True), ("::", False, True), ("10.1.2.3", False, True),
    ("cds.example.org", False, True), ("0.0.0.0", True, False),
])
def test_open_mode_binds_loopback_only_unless_asked(host, insecure, refused):
    assert (open_mode_refusal(host, insecure) is not None) == refused
    assert is_loopback(host) == (host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))


def test_open_mode_start_is_loud(tmp_path):
    from server_process import running
    port = free_port()
    log = tmp_path / "serve.log"
    with running([sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], log, port):
        pass
    assert "OPEN MODE" in log.read_text()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_from_a_url_are_cached_and_refreshed_on_an_unknown_kid_rate_limited(keys):
    jwks = JwksServer([public_jwk(keys.c, "c-1")])
    try:
        client = TrustedClient(ISS_C, None, jwks.url)
        clock = FakeClock()
        cache = KeySets(clock=clock)
        assert cache.key(client, "c-1")["kid"] == "c-1" and jwks.hits == 1
        assert cache.key(client, "c-1") is not None and jwks.hits == 1  # cached
        jwks.keys = [public_jwk(keys.c, "c-1"), public_jwk(keys.a, "c-2")]  # the client rotates
        clock.now += 5
        assert cache.key(client, "c-2") is None and jwks.hits == 1  # refreshed moments ago: not again
        clock.now += MIN_REFRESH_SECONDS
        assert cache.key(client, "c-2")["kid"] == "c-2" and jwks.hits == 2
        clock.now += MIN_REFRESH_SECONDS + 1
        for _ in range(5):  # junk kids: at most one fetch per minute
            assert cache.key(client, "junk") is None
        assert jwks.hits == 3
    finally:
        jwks.close()


def test_a_failed_key_refresh_keeps_the_last_good_set(keys):
    jwks = JwksServer([public_jwk(keys.c, "c-1")])
    client = TrustedClient(ISS_C, None, jwks.url)
    clock = FakeClock()
    cache = KeySets(clock=clock)
    assert cache.key(client, "c-1") is not None
    jwks.close()
    clock.now += 4000  # stale: refetch fails (nothing listens)
    assert cache.key(client, "c-1") is not None


def _race(path: str, jti: str, results) -> None:
    cache = SqliteReplayCache(__import__("pathlib").Path(path))
    results.put(cache.first_use("iss", jti, datetime.now(timezone.utc) + timedelta(minutes=5)))


def test_the_replay_cache_accepts_a_jti_once_across_processes(tmp_path):
    path = str(tmp_path / "replay.sqlite3")
    results = multiprocessing.get_context("spawn").Queue()
    processes = [multiprocessing.get_context("spawn").Process(target=_race, args=(path, "same", results)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=60)
    assert sorted(results.get(timeout=5) for _ in processes) == [False, False, False, True]


def test_an_expired_jti_row_no_longer_blocks(tmp_path):
    cache = SqliteReplayCache(tmp_path / "replay.sqlite3")
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert cache.first_use("iss", "j", past) is True
    assert cache.first_use("iss", "j", datetime.now(timezone.utc) + timedelta(minutes=5)) is True
    assert cache.first_use("iss", "j", datetime.now(timezone.utc) + timedelta(minutes=5)) is False
    assert cache.first_use("other-iss", "j", datetime.now(timezone.utc) + timedelta(minutes=5)) is True


def test_prefetch_templates_become_encoded_queries(app):
    service = app.extensions["relapse_cds.service"]
    conditions = next(p.query for p in service.prefetch if p.key == "conditions")
    url = _query_url("https://ehr.example.org/fhir", conditions, "p-1")
    assert url.startswith("https://ehr.example.org/fhir/Condition?patient=p-1&code=")
    assert "|" not in url and "%7C" in url
    assert _query_url("https://ehr.example.org/fhir", "Patient/{{context.patientId}}", "p-1") == "https://ehr.example.org/fhir/Patient/p-1"


def test_which_keys_are_fetched(app):
    service = app.extensions["relapse_cds.service"]
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    paged = {"resourceType": "Bundle", "link": [{"relation": "next", "url": "https://ehr.example.org/fhir?page=2"}]}
    prefetch = {"patient": {"resourceType": "Patient", "id": "p"}, "conditions": None, "observations": outcome, "procedures": paged}
    assert to_fetch(prefetch, service) == ["observations", "procedures", "specimens"]


def test_the_container_refuses_open_mode_on_all_interfaces_unless_asked(tmp_path):
    """docker/gunicorn.conf.py checks before binding anything (nothing listens on 0.0.0.0 here)."""
    command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"), "service:create_app()"]
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RELAPSE_CDS_")}
    env["RELAPSE_CDS_BIND"] = f"0.0.0.0:{free_port()}"
    process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert process.returncode != 0 and "set RELAPSE_CDS_INSECURE_OPEN=1" in process.stderr


@pytest.mark.parametrize(("raw", "ok"), [("3", True), ("0.5", True), ("25", True), ("0", False), ("-1", False), ("26", False), ("soon", False)])
def test_the_fetch_deadline_setting(monkeypatch, raw, ok):
    monkeypatch.setenv("RELAPSE_CDS_FETCH_DEADLINE_S", raw)
    if ok:
        assert Settings.from_env().fetch_deadline_s == float(raw)
    else:
        with pytest.raises(ValueError, match="RELAPSE_CDS_FETCH_DEADLINE_S"):
            Settings.from_env()


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
_PAGES = st.fixed_dictionaries({"resourceType": st.just("Bundle")}, optional={
    "entry": _JSON | st.lists(st.fixed_dictionaries({"resource": _JSON}), max_size=5),
    "link": _JSON | st.lists(st.fixed_dictionaries({"relation": st.sampled_from(["next", "self", 3]), "url": _JSON | st.just("/x")}), max_size=3),
})


@given(_PAGES)
@settings(max_examples=200, deadline=None)
def test_any_prefetched_page_is_completed_or_failed_cleanly(page):
    """A junk first page (entries, links of any shape) ends as a searchset Bundle or a FetchFailure;
    its next links go nowhere (a closed loopback port, or another origin)."""
    from service.fhir.fetch import FetchFailure, FetchPolicy, _search, _Session

    base = f"http://127.0.0.1:{free_port()}/fhir"
    notes: list[str] = []
    try:
        result = _search(_Session(base, "t", __import__("time").monotonic() + 2, FetchPolicy()), page, None, "conditions", notes)
    except FetchFailure as failure:
        assert failure.message and "t" != failure.message
        return
    assert result["resourceType"] == "Bundle" and isinstance(result["entry"], list)


def test_a_search_is_capped_by_entries_and_says_so():
    from service.fhir.fetch import FetchPolicy, _search, _Session

    page = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": str(i)}} for i in range(5)]}
    notes: list[str] = []
    session = _Session(f"http://127.0.0.1:{free_port()}/fhir", None, __import__("time").monotonic() + 2, FetchPolicy(max_resources=3))
    result = _search(session, page, None, "conditions", notes)
    assert [e["resource"]["id"] for e in result["entry"]] == ["0", "1", "2"]
    assert notes == ["fetch conditions: only the first 3 of 5 entries read (the cap)"]


def test_the_testing_page_is_public_but_what_it_calls_is_not(clients_env, monkeypatch):
    """RELAPSE_CDS_DEMO_PAGE=on with clients: the page, its assets and examples load without a token;
    the service it calls still needs one."""
    monkeypatch.setenv("RELAPSE_CDS_DEMO_PAGE", "on")
    client = create_app(Settings.from_env()).test_client()
    assert client.get("/").status_code == 200
    assert client.get("/page/app.js").status_code == 200
    examples = client.get("/examples")
    assert examples.status_code == 200
    first = examples.get_json()["examples"][0]["id"]
    assert client.get(f"/examples/{first}").status_code == 200
    assert client.post("/cds-services/relapse-all-assessment", json={}).status_code == 401
