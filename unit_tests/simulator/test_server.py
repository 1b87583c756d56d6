"""The simulator's HTTP layer, exercised over real HTTP: auth, keep-alive, concurrency, rate limits,
faults, stats, control endpoints, CLI. End-to-end checks of Close semantics through HTTP are at
the bottom; the semantics themselves are tested next to ``responses.py``.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from close_simulator.faults import FaultInjector, parse_fault
from close_simulator.ratelimit import RateLimiter, format_reset
from close_simulator.testing import Simulator, SimulatorProcess

ROOT = Path(__file__).resolve().parents[2]
PAGE = "activity/email/"  # a list endpoint with records at every scale
NO_LIMIT = {"rps": None, "org_rps": None}
RATELIMIT_RE = re.compile(r"limit=(\d+)[,;] ?remaining=(\d+)[,;] ?reset=([\d.]+)")


def get(sim, path, key=None, timeout=5, session=None, **params):
    """GET ``/api/v1/<path>`` as ``key`` (default: the organisation's key)."""
    auth = ((key if key is not None else sim.api_key), "")
    return (session or requests).get(sim.url + path, params=params, auth=auth, timeout=timeout)


def ratelimit(response) -> tuple[int, int, str]:
    limit, remaining, reset = RATELIMIT_RE.fullmatch(response.headers["RateLimit"]).groups()
    return int(limit), int(remaining), reset


@pytest.fixture(scope="module")
def sim(simulator):
    """The shared read-only organisation (no rate limit, no faults)."""
    return simulator


# Everything `configure` can change, at the values a fresh Simulator(rps=None, org_rps=None) has.
DEFAULTS = dict(
    rps=None, org_rps=None, latency_ms=0, jitter_ms=0, faults=[], max_skip=None, header_style="standard",
    fractional_reset=False, legacy_429_body=False, restricted_keys={}, extra_keys=[], recent_limit=50,
)


@pytest.fixture(scope="module")
def _lab():
    with Simulator(**NO_LIMIT) as sim:
        yield sim


@pytest.fixture
def lab(_lab):
    """``lab(**options)``: this module's own simulator, reconfigured at runtime for one test.

    Building an organisation costs far more than reconfiguring one, and it exercises
    ``configure``: every option set here must behave as if given at start-up.
    """

    def setup(**options):
        _lab.configure(**{**DEFAULTS, **options})
        _lab.reset_stats()
        return _lab

    yield setup
    _lab.configure(**DEFAULTS)


# --- auth --------------------------------------------------------------------------------


def test_missing_key_is_401_with_close_body(sim):
    response = requests.get(sim.url + "me/", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Close"'
    assert "RateLimit" not in response.headers  # rejected before any bucket is charged


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"api_not_a_key:").decode(),
        "Basic " + base64.b64encode(b"no-colon-at-all").decode(),
        "Basic !!!not-base64!!!",
        "Bearer sometoken",
        "Basic",
    ],
)
def test_wrong_or_malformed_key_is_401(sim, header):
    response = requests.get(sim.url + "me/", headers={"Authorization": header}, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_valid_key_with_empty_password(sim):
    response = get(sim, "me/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"


def test_restricted_key_gets_403_only_on_its_endpoints(lab):
    sim = lab(**NO_LIMIT, restricted_keys=True, extra_keys=["api_second_key"])
    key = sim.restricted_key
    assert key and key.startswith("api_")
    for path in ("send_as/", "event/", "custom_field/lead/"):
        response = get(sim, path, key=key)
        assert response.status_code == 403, path
        assert response.json() == {
            "error": f"Forbidden: this API key does not have permission to access {path}"
        }
        assert "RateLimit" in response.headers
        assert get(sim, path).status_code != 403  # the full key is not restricted
    assert get(sim, PAGE, key=key, _limit=2).json() == get(sim, PAGE, _limit=2).json()
    assert get(sim, "me/", key="api_second_key").status_code == 200


def test_restricted_keys_in_cli_form(lab):
    sim = lab(**NO_LIMIT, restricted_keys=["api_ro:lead/,opportunity/"])
    assert get(sim, "lead/", key="api_ro").status_code == 403
    assert get(sim, "me/", key="api_ro").status_code == 200


# --- HTTP plumbing -----------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(sim):
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    token = base64.b64encode(f"{sim.api_key}:".encode()).decode()
    try:
        conn.request("GET", "/api/v1/me/", headers={"Authorization": f"Basic {token}"})
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        conn.request("GET", f"/api/v1/{PAGE}?_limit=1", headers={"Authorization": f"Basic {token}"})
        second = conn.getresponse()
        second.read()
        assert first.status == second.status == 200
        assert conn.sock is sock  # no reconnect happened in between
        assert first.getheader("Connection", "keep-alive").lower() == "keep-alive"
    finally:
        conn.close()


def test_unknown_path_is_served_by_the_api_layer(sim):
    response = get(sim, "no_such_resource/")
    assert response.status_code == 404
    assert "error" in response.json()


def test_latency_does_not_serialise_concurrent_requests(lab):
    # A second of latency: on a busy machine ten threads may take a few hundred ms to all send their request.
    sim = lab(**NO_LIMIT, latency_ms=1000)
    start = time.monotonic()
    with cf.ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: get(sim, "me/").status_code, range(10)))
    elapsed = time.monotonic() - start
    assert statuses == [200] * 10
    # All ten were being served at once: none waited for another's latency to pass.
    assert sim.stats()["paths"]["me/"]["peak_concurrency"] == 10
    assert 1.0 <= elapsed < 5.0


def test_jitter_adds_bounded_delay(lab):
    sim = lab(**NO_LIMIT, latency_ms=50, jitter_ms=100)
    session = requests.Session()
    for _ in range(5):
        start = time.monotonic()
        assert get(sim, "me/", session=session).status_code == 200
        assert 0.05 <= time.monotonic() - start < 0.5


# --- rate limits -------------------------------------------------------------------------


def test_ratelimit_header_on_every_response_after_auth(lab):
    sim = lab(rps=5, org_rps=15)
    limit, remaining, reset = ratelimit(get(sim, "me/"))
    assert (limit, remaining, reset) == (5, 4, "0")
    assert ratelimit(get(sim, "no_such_resource/"))[0] == 5  # errors carry it too
    # another endpoint group has its own bucket
    assert ratelimit(get(sim, PAGE, _limit=1))[1] == 4


def test_lower_semicolon_header_style_is_sent_verbatim(lab):
    sim = lab(rps=5, org_rps=None, header_style="lower-semicolon")
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    token = base64.b64encode(f"{sim.api_key}:".encode()).decode()
    conn.request("GET", "/api/v1/me/", headers={"Authorization": f"Basic {token}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    headers = dict(response.getheaders())
    assert "RateLimit" not in headers
    assert headers["ratelimit"] == "limit=5; remaining=4; reset=0"


def test_x_rate_limit_header_style(lab):
    sim = lab(rps=5, org_rps=None, header_style="x-rate-limit", fractional_reset=True)
    response = get(sim, "me/")
    assert response.headers["X-Rate-Limit-Limit"] == "5"
    assert response.headers["X-Rate-Limit-Remaining"] == "4"
    assert float(response.headers["X-Rate-Limit-Reset"]) == 0


def test_no_rate_limit_still_sends_a_large_limit(sim):
    limit, remaining, reset = ratelimit(get(sim, "me/"))
    assert limit >= 100_000 and remaining >= 100_000 and reset == "0"


def burst(sim, n, path="me/", key=None):
    session = requests.Session()
    return [get(sim, path, key=key, session=session) for _ in range(n)]


def test_429_with_retry_after_and_empty_body(lab):
    sim = lab(rps=3, org_rps=None)
    responses = burst(sim, 4)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [ratelimit(r)[1] for r in responses[:3]] == [2, 1, 0]
    refused = responses[3]
    assert refused.json() == {}
    assert refused.headers["Retry-After"] == "1"
    assert ratelimit(refused) == (3, 0, "1")
    assert sim.stats()["totals"]["429"] == 1
    assert get(sim, PAGE, _limit=1).status_code == 200  # other group, other bucket


def test_legacy_429_body(lab):
    sim = lab(rps=2, org_rps=None, legacy_429_body=True)
    refused = burst(sim, 3)[2]
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "rate_reset": 1,
            "message": "API call count exceeded for this 15 second window",
            "rate_limit": 2,
            "rate_window": 15,
        }
    }


def test_fractional_reset(lab):
    sim = lab(rps=2, org_rps=None, fractional_reset=True, legacy_429_body=True)
    refused = burst(sim, 3)[2]
    assert refused.status_code == 429
    reset = ratelimit(refused)[2]
    assert "." in reset and 0 < float(reset) <= 0.5
    assert refused.headers["Retry-After"] == "1"
    assert 0 < refused.json()["error"]["rate_reset"] <= 0.5
    time.sleep(float(reset) + 0.02)
    assert get(sim, "me/").status_code == 200  # the token came back when reset said


def test_organisation_bucket_spans_keys(lab):
    sim = lab(rps=4, org_rps=6, extra_keys=["api_other"])
    first = burst(sim, 4)
    second = burst(sim, 4, key="api_other")
    assert [r.status_code for r in first] == [200] * 4
    assert [r.status_code for r in second] == [200, 200, 429, 429]
    assert ratelimit(second[-1])[0] == 6  # the organisation's bucket is the one refusing


def test_token_bucket_caps_each_second(lab):
    rate = 10
    sim = lab(rps=rate, org_rps=None)

    stop_at = time.monotonic() + 2.2

    def hammer(_):
        session = requests.Session()
        codes = []
        while time.monotonic() < stop_at:
            codes.append(get(sim, "me/", session=session).status_code)
        return codes

    with cf.ThreadPoolExecutor(4) as pool:
        codes = [c for chunk in pool.map(hammer, range(4)) for c in chunk]
    histogram = sim.stats()["per_second"]
    accepted = [row["requests"] - row["429"] for row in histogram]
    assert codes.count(429) > 0 and sum(accepted) == codes.count(200)
    # Capacity = one second's worth: the idle bucket allows a burst of `rate` on top of the
    # refill in the first second; once busy, a second never admits more than `rate` (+1 rounding).
    assert accepted[0] <= 2 * rate
    assert all(n <= rate + 1 for n in accepted[1:])
    assert sum(accepted) <= rate * (2.2 + 1) + 1


def test_rate_limiter_unit():
    now = [0.0]
    limiter = RateLimiter(rps=2, org_rps=None, clock=lambda: now[0])
    assert [limiter.check("k", "g").allowed for _ in range(3)] == [True, True, False]
    refused = limiter.check("k", "g")
    assert refused.reset == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.check("k", "g").allowed
    assert format_reset(0.25, True) == "0.25" and format_reset(0.25, False) == "1"
    assert format_reset(2.0, False) == "2" and format_reset(0, True) == "0"


# --- faults ------------------------------------------------------------------------------


def test_fault_rule_parsing():
    assert parse_fault("429:0.05").to_dict() == {"kind": "429", "probability": 0.05, "burst": 2, "reset": 1.0}
    rule = parse_fault("503@3,4:/api/v1/activity/email/")
    assert (rule.kind, rule.nth, rule.path) == ("503", frozenset({3, 4}), "activity/email/")
    assert parse_fault("slow=2.5:0.1:lead/").to_dict() == {
        "kind": "slow", "probability": 0.1, "prefix": "lead/", "delay_s": 2.5
    }
    assert parse_fault({"kind": "drop", "path": "lead/", "nth": 2}).nth == frozenset({2})
    for bad in ("teapot:0.5", "503", "503:2", {"kind": "503", "nth": [1], "colour": "red"}):
        with pytest.raises((ValueError, TypeError)):
            parse_fault(bad)


def test_probability_faults_are_seeded_and_prefix_scoped():
    injector = FaultInjector(["500:0.3:lead/"], seed=1)
    picks = [injector.pick("k", "lead/") is not None for _ in range(200)]
    again = FaultInjector(["500:0.3:lead/"], seed=1)
    assert picks == [again.pick("k", "lead/") is not None for _ in range(200)]
    assert 30 < sum(picks) < 90
    assert all(injector.pick("k", "opportunity/") is None for _ in range(50))


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_error_fault_by_schedule_then_clean_retry(lab, code):
    sim = lab(**NO_LIMIT, faults=[{"kind": str(code), "path": PAGE, "nth": [2, 3]}])
    clean = get(sim, PAGE, _limit=3)
    failed = [get(sim, PAGE, _limit=3) for _ in range(2)]
    retried = get(sim, PAGE, _limit=3)
    assert [r.status_code for r in failed] == [code, code]
    assert isinstance(failed[0].json()["error"], str)
    assert "RateLimit" in failed[0].headers
    assert retried.status_code == 200 and retried.json() == clean.json()
    assert get(sim, "me/").status_code == 200  # other paths unaffected
    assert sim.stats()["paths"][PAGE]["faults"] == {str(code): 2}


def test_drop_fault_cuts_the_connection_mid_body(lab):
    sim = lab(**NO_LIMIT, faults=[f"drop@2:{PAGE}"])
    clean = get(sim, PAGE, _limit=5)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        get(sim, PAGE, _limit=5)
    retried = get(sim, PAGE, _limit=5)
    assert retried.json() == clean.json()


def test_drop_fault_announces_full_length(lab):
    sim = lab(**NO_LIMIT, faults=[f"drop@1:{PAGE}"])
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    token = base64.b64encode(f"{sim.api_key}:".encode()).decode()
    conn.request("GET", f"/api/v1/{PAGE}?_limit=5", headers={"Authorization": f"Basic {token}"})
    response = conn.getresponse()
    announced = int(response.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    assert 0 < len(info.value.partial) < announced
    conn.close()


def test_truncated_fault_is_a_json_error_with_consistent_length(lab):
    sim = lab(**NO_LIMIT, faults=[f"truncated@1:{PAGE}"])
    broken = get(sim, PAGE, _limit=5)
    assert broken.status_code == 200
    assert int(broken.headers["Content-Length"]) == len(broken.content)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        broken.json()
    clean = get(sim, PAGE, _limit=5)
    assert clean.content.startswith(broken.content)


def test_invalid_fault_is_not_json(lab):
    sim = lab(**NO_LIMIT, faults=[f"invalid@1:{PAGE}"])
    broken = get(sim, PAGE, _limit=2)
    assert broken.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        broken.json()
    assert get(sim, PAGE, _limit=2).json()["data"]


def test_slow_fault_outlasts_the_client_timeout(lab):
    sim = lab(**NO_LIMIT, faults=[{"kind": "slow", "path": "me/", "nth": [1], "delay_s": 5}])
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(sim, "me/", timeout=0.3)
    assert get(sim, "me/").status_code == 200
    assert time.monotonic() - start < 2  # the slow answer held up nothing else


def test_429_fault_burst_by_schedule(lab):
    sim = lab(rps=100, org_rps=None, faults=[{"kind": "429", "path": "me/", "nth": [2], "burst": 2}])
    codes = [r.status_code for r in burst(sim, 6)]
    assert codes == [200, 429, 429, 429, 200, 200]
    assert get(sim, "me/").status_code == 200  # the burst is over
    stats = sim.stats()
    assert stats["totals"]["429"] == 3 and stats["totals"]["faults"] == {"429": 3}


def test_429_fault_headers(lab):
    sim = lab(**NO_LIMIT, faults=[{"kind": "429", "nth": [1], "burst": 0, "reset": 3}])
    refused = get(sim, "me/")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3"
    assert ratelimit(refused)[1:] == (0, "3")
    assert refused.json() == {}


def test_faults_never_touch_control_endpoints_and_change_at_runtime(lab):
    sim = lab(**NO_LIMIT, faults=["503:1.0"])
    assert get(sim, "me/").status_code == 503
    stats = requests.get(sim.base_url + "/_simulator/stats", timeout=5)
    assert stats.status_code == 200 and stats.json()["totals"]["requests"] == 1
    response = requests.post(sim.base_url + "/_simulator/configure", json={"faults": ["500:1.0:lead/"]}, timeout=5)
    assert response.json()["faults"] == [{"kind": "500", "probability": 1.0, "prefix": "lead/"}]
    assert get(sim, "me/").status_code == 200
    assert get(sim, "lead/").status_code == 500
    sim.configure(faults=[])
    assert get(sim, "lead/").status_code == 200


# --- stats and control endpoints ---------------------------------------------------------


def test_stats_record_counts_groups_and_recent_requests(lab):
    sim = lab(**NO_LIMIT, recent_limit=3)
    for skip in range(5):
        get(sim, PAGE, _limit=1, _skip=skip, date_created__gte="2021-01-01T00:00:00+00:00")
    requests.post(sim.url + "data/search/", json={"query": {"type": "and", "queries": []}, "_limit": 1},
                  auth=sim.auth, timeout=5)
    requests.get(sim.url + "me/", timeout=5)  # a 401
    stats = sim.stats()
    page = stats["paths"][PAGE]
    assert page["requests"] == 5 and page["status"] == {"200": 5}
    assert page["group"] in stats["groups"]
    assert [entry["params"]["_skip"] for entry in page["recent"]] == [["2"], ["3"], ["4"]]
    assert page["recent"][-1]["params"]["date_created__gte"] == ["2021-01-01T00:00:00+00:00"]
    search = stats["paths"]["data/search/"]["recent"][-1]
    assert search["method"] == "POST" and search["body"]["_limit"] == 1
    assert stats["paths"]["me/"]["status"] == {"401": 1}
    assert stats["totals"]["requests"] == 7
    assert sum(row["requests"] for row in stats["per_second"]) == 7
    sim.reset_stats()
    assert sim.stats()["totals"]["requests"] == 0


def test_control_endpoints_over_http(lab):
    sim = lab(**NO_LIMIT)
    base = sim.base_url + "/_simulator/"
    get(sim, "me/")
    assert requests.get(base + "stats", timeout=5).json()["totals"]["requests"] == 1
    assert requests.post(base + "stats/reset", timeout=5).json() == {"ok": True}
    assert requests.get(base + "stats", timeout=5).json()["totals"]["requests"] == 0

    stream = "email_activities"
    lines = requests.get(base + f"truth/{stream}", timeout=30).text.splitlines()
    assert [json.loads(line) for line in lines] == sim.truth(stream)
    assert requests.get(base + "truth/no_such_stream", timeout=5).status_code == 404

    settings = requests.post(base + "configure", json={"rps": 7, "latency_ms": 1, "max_skip": 50}, timeout=5).json()
    assert (settings["rps"], settings["latency_ms"], settings["max_skip"]) == (7, 1, 50)
    assert settings["config"] == sim.config()
    assert ratelimit(get(sim, "me/"))[0] == 7
    assert requests.post(base + "configure", json={"colour": "red"}, timeout=5).status_code == 400
    assert requests.post(base + "configure", json={"header_style": "fancy"}, timeout=5).status_code == 400
    assert requests.get(base + "config", timeout=5).json()["rps"] == 7

    reset = requests.post(base + "reset", timeout=30).json()  # nothing was mutated: a cheap rebuild
    assert reset["ok"] and reset["config"]["api_key"] == sim.api_key
    assert requests.get(base + "stats", timeout=5).json()["totals"]["requests"] == 0
    assert requests.get(base + "config", timeout=5).json()["max_skip"] == 50  # settings survive a reset


def test_simulator_api_surface(make_simulator):
    sim = make_simulator(**NO_LIMIT)
    config = sim.config(start_date="2022-01-01")
    assert config == {"api_key": sim.api_key, "api_url": sim.url, "start_date": "2022-01-01", "num_workers": 10}
    assert sim.url == sim.base_url + "/api/v1/" and sim.url.startswith("http://127.0.0.1:")
    assert sim.api_key.startswith("api_")
    assert sim.restricted_key is None
    assert sim.api is sim.server.api and sim.org is sim.server.org


def test_stop_closes_the_port_promptly():
    sim = Simulator(**NO_LIMIT).start()
    session = requests.Session()
    assert get(sim, "me/", session=session).status_code == 200  # leaves a keep-alive connection
    start = time.monotonic()
    sim.stop()
    assert time.monotonic() - start < 2
    with pytest.raises(requests.exceptions.ConnectionError):
        get(sim, "me/", session=session, timeout=2)


def test_stop_does_not_wait_for_a_slow_fault():
    sim = Simulator(**NO_LIMIT, faults=[{"kind": "slow", "nth": [1], "delay_s": 30}]).start()
    worker = threading.Thread(target=lambda: pytest.raises(Exception, get, sim, "me/", timeout=20))
    worker.start()
    time.sleep(0.2)
    start = time.monotonic()
    sim.stop()
    worker.join(5)
    assert time.monotonic() - start < 3 and not worker.is_alive()


# --- CLI ---------------------------------------------------------------------------------


def test_cli_serve_prints_one_config_line_and_serves(tmp_path):
    with SimulatorProcess(rps=5, org_rps=None, header_style="lower-semicolon", faults=[f"503@1:{PAGE}"],
                          restricted_keys={"api_ro": ["event/"]}) as proc:
        config = proc.config
        assert set(config) == {"api_key", "api_url", "start_date", "num_workers"}
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1/", config["api_url"])
        assert not config["api_url"].endswith(":0/api/v1/")
        auth = (config["api_key"], "")
        response = requests.get(config["api_url"] + "me/", auth=auth, timeout=5)
        assert response.status_code == 200
        assert response.headers["ratelimit"] == "limit=5; remaining=4; reset=0"
        assert requests.get(config["api_url"] + PAGE, auth=auth, timeout=5).status_code == 503
        assert requests.get(config["api_url"] + "event/", auth=("api_ro", ""), timeout=5).status_code == 403
        assert proc.stats()["totals"]["requests"] == 3
        assert proc.configure(rps=9)["rps"] == 9
    assert proc.proc.returncode == 0  # SIGTERM is a clean shutdown


def test_cli_rejects_bad_options():
    result = subprocess.run(
        [sys.executable, "-m", "close_simulator", "serve", "--port", "0", "--fault", "teapot:1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0 and "teapot" in result.stderr
    assert result.stdout == ""


def test_cli_dump_writes_every_stream(tmp_path):
    from close_simulator.models import STREAMS, Organization

    result = subprocess.run(
        [sys.executable, "-m", "close_simulator", "dump", "--seed", "7", "--scale", "small", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in tmp_path.glob("*.jsonl")) == sorted(STREAMS)
    org = Organization(seed=7, scale="small")
    for stream in STREAMS[:5]:
        lines = (tmp_path / f"{stream}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == json.loads(json.dumps(org.truth(stream)))


# --- determinism and end-to-end Close semantics through HTTP ------------------------------


def test_same_seed_same_truth_and_pages(make_simulator):
    from close_simulator.models import STREAMS

    first, second = make_simulator(**NO_LIMIT, seed=11), make_simulator(**NO_LIMIT, seed=11)
    for stream in STREAMS:
        assert first.truth(stream) == second.truth(stream), stream
    assert first.api_key == second.api_key
    assert get(first, PAGE, _limit=10).json() == get(second, PAGE, _limit=10).json()


def test_paging_has_more_over_http(sim):
    truth_ids = {record["id"] for record in sim.truth("email_activities")}
    session, seen, skip, pages = requests.Session(), [], 0, []
    while True:
        page = get(sim, PAGE, session=session, _skip=skip, _limit=25).json()
        seen += [record["id"] for record in page["data"]]
        skip += len(page["data"])
        pages.append(page["has_more"])
        if not page["has_more"]:
            break
    assert len(pages) > 2 and all(pages[:-1])
    assert len(seen) == len(set(seen))
    assert set(seen) == truth_ids


def test_max_skip_400_via_configure(lab):
    sim = lab(**NO_LIMIT)
    assert get(sim, PAGE, _skip=20, _limit=1).status_code == 200
    sim.configure(max_skip=10)
    refused = get(sim, PAGE, _skip=20, _limit=1)
    assert refused.status_code == 400
    assert "max_skip = 10" in refused.json()["error"]
    sim.configure(max_skip=None)
    assert get(sim, PAGE, _skip=20, _limit=1).status_code == 200



def all_ids(sim, path, session=None, **params):
    """Every id of an offset-paged list, following ``has_more``."""
    session, ids, skip = session or requests.Session(), [], 0
    while True:
        page = get(sim, path, session=session, _skip=skip, _limit=100, **params).json()
        ids += [record["id"] for record in page["data"]]
        skip += len(page["data"])
        if not page["has_more"]:
            return ids


def test_mutation_then_list(make_simulator):
    sim = make_simulator(**NO_LIMIT)
    before = all_ids(sim, PAGE)
    created = sim.mutate({"action": "create", "object_type": "activity", "subtype": "email"})["records"][0]
    after = all_ids(sim, PAGE)
    assert set(after) == set(before) | {created["id"]}
    assert sorted(after) == sorted(r["id"] for r in sim.truth("email_activities"))

    deleted = requests.post(sim.base_url + "/_simulator/mutate", timeout=10,
                            json={"action": "delete", "object_type": "activity", "subtype": "email",
                                  "id": created["id"]}).json()
    assert any(event["action"] == "deleted" for event in deleted["events"])
    assert set(all_ids(sim, PAGE)) == set(before)
    bad = requests.post(sim.base_url + "/_simulator/mutate", json={"action": "explode"}, timeout=10)
    assert bad.status_code == 400 and "explode" in bad.json()["error"]

    requests.post(sim.base_url + "/_simulator/reset", timeout=30).raise_for_status()
    assert all_ids(sim, PAGE) == before  # the seed's organisation again
