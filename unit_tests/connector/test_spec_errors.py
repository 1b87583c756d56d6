"""A config that breaks the spec: one sentence naming the setting, what it must be and (unless secret) what it is.

First the sentences themselves, from the validation `source-close-com` runs before any command that takes a config
(no simulator, no request); then what check and read do with such a config against a simulator: check reports a
FAILED status, read fails with one config error, and nothing reaches Close.
"""

from __future__ import annotations

import logging

import pytest

from airbyte_cdk.models import FailureType, Status, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_close_com.run import CloseEntrypoint, SourceCloseCom
from unit_tests.harness import NO_LIMIT, catalog_for, output_text, run_command
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.console import catalog_file, console, invoke, write

GOOD = {"api_key": "api_0123456789abcdefghijkl", "start_date": "2021-01-01"}
FIX = "Fix it in the connector settings."
START_DATE_FIX = "write a past day as YYYY-MM-DD, such as 2021-01-01, or leave it empty to sync the full history."
API_URL_FIX = (
    "The 'api_url' setting must be an https:// URL such as https://api.close.com/api/v1/ (plain http:// is accepted "
    "only for a loopback host such as 127.0.0.1). Remove 'api_url' from the config to use Close's API."
)


# ------------------------------------------------------------------------------------------- the sentences


@pytest.fixture(scope="module")
def spec():
    return SourceCloseCom().spec(logging.getLogger("airbyte"))


def spec_error(spec, **settings) -> str:
    """The message of the config error the connector raises for GOOD with these settings."""
    with pytest.raises(AirbyteTracedException) as raised:
        CloseEntrypoint.validate_connection(spec, {**GOOD, **settings})
    assert raised.value.failure_type == FailureType.config_error
    return raised.value.message


SENTENCES = {
    "a start date not written YYYY-MM-DD": (
        {"start_date": "01/02/2021"},
        "The 'start_date' setting (Replication Start Date) must be a date written YYYY-MM-DD, such as 2021-01-01, or "
        f"empty (it is '01/02/2021'). {FIX}",
    ),
    "a start date that is a number": (
        {"start_date": 20210101},
        "The 'start_date' setting (Replication Start Date) must be a date written YYYY-MM-DD, such as 2021-01-01, or "
        f"empty (it is 20210101). {FIX}",
    ),
    "a start date that is no day": (
        {"start_date": "2021-02-30"}, f"The 'start_date' setting is not a real date (it is '2021-02-30'): {START_DATE_FIX}",
    ),
    "a start date in the future": (
        {"start_date": "2999-01-01"}, f"The 'start_date' setting is in the future (it is '2999-01-01'): {START_DATE_FIX}",
    ),
    "too few workers": (
        {"num_workers": 0},
        f"The 'num_workers' setting (Number of Concurrent Workers) must be a whole number from 1 to 50 (it is 0). {FIX}",
    ),
    "workers that are no number": (
        {"num_workers": "many"},
        f"The 'num_workers' setting (Number of Concurrent Workers) must be a whole number from 1 to 50 (it is 'many'). {FIX}",
    ),
    "a negative lookback": (
        {"lookback_window_days": -1},
        "The 'lookback_window_days' setting (Activity Lookback Window (days)) must be a whole number from 0 to 365 "
        f"(it is -1). {FIX}",
    ),
    "no request rate": (
        {"requests_per_second": 0},
        f"The 'requests_per_second' setting (Requests per Second) must be a number above 0 and at most 1000 (it is 0). {FIX}",
    ),
    "an api_url that is not https": ({"api_url": "ftp://127.0.0.1/api/v1/"}, API_URL_FIX),
    "plain http to a host that is not loopback": ({"api_url": "http://10.0.0.5/api/v1/"}, API_URL_FIX),
    "an empty key": (
        {"api_key": ""},
        "The 'api_key' setting is empty: paste your Close API key (it starts with \"api_\"), from Settings > Developer > "
        "API Keys in Close.",
    ),
    "a key with a line break": (
        {"api_key": " api_0123456789abcdefghijkl\n"},
        "The 'api_key' setting starts or ends with a space or line break: remove it, and paste the key alone (it "
        "starts with \"api_\").",
    ),
    "a key that is no text (a secret: its value is not shown)": (
        {"api_key": 12345}, f"The 'api_key' setting (API Key) must be text. {FIX}",
    ),
}


@pytest.mark.parametrize("settings, sentence", SENTENCES.values(), ids=SENTENCES.keys())
def test_each_rule_of_the_spec_has_its_sentence(spec, settings, sentence):
    assert spec_error(spec, **settings) == sentence


def test_a_missing_key_is_required_with_the_spec_s_own_description(spec):
    with pytest.raises(AirbyteTracedException) as raised:
        CloseEntrypoint.validate_connection(spec, {"start_date": "2021-01-01"})
    description = spec.connectionSpecification["properties"]["api_key"]["description"].strip()
    assert raised.value.message == f"The 'api_key' setting is required: {description}"
    assert "API Keys" in raised.value.message


def test_a_good_config_passes_and_an_empty_start_date_means_the_full_history(spec):
    CloseEntrypoint.validate_connection(spec, GOOD)
    CloseEntrypoint.validate_connection(spec, {**GOOD, "start_date": ""})
    CloseEntrypoint.validate_connection(spec, {"api_key": GOOD["api_key"]})
    CloseEntrypoint.validate_connection(spec, {**GOOD, "api_url": "http://127.0.0.1:8080/api/v1/"})


# ---------------------------------------------------------------------------------- check and read say them


def check_status(output):
    statuses = output.connection_status_messages
    assert len(statuses) == 1, output.get_formatted_error_message()
    return statuses[0].connectionStatus


CHECKED = {  # what check's message must say of each setting that breaks the spec
    "start_date=2021-13-45x": ({"start_date": "2021-13-45x"}, "YYYY-MM-DD"),
    "start_date=01/02/2021": ({"start_date": "01/02/2021"}, "YYYY-MM-DD"),
    "start_date=2021-02-30": ({"start_date": "2021-02-30"}, "not a real date"),
    "start_date=2999-01-01": ({"start_date": "2999-01-01"}, "in the future"),
    "num_workers=0": ({"num_workers": 0}, "from 1 to 50"),
    "num_workers=500": ({"num_workers": 500}, "from 1 to 50"),
    "num_workers=many": ({"num_workers": "many"}, "whole number"),
    "lookback_window_days=-1": ({"lookback_window_days": -1}, "from 0 to 365"),
    "requests_per_second=0": ({"requests_per_second": 0}, "above 0"),
}


@pytest.mark.parametrize("override, fix", CHECKED.values(), ids=CHECKED.keys())
def test_config_that_breaks_the_spec_is_a_config_error_naming_the_field(simulator, override, fix):
    ((field, value),) = override.items()
    output = run_command("check", {**simulator.config(), **override})
    status = check_status(output)
    assert status.status == Status.FAILED
    assert f"'{field}'" in status.message and fix in status.message and repr(value) in status.message
    assert simulator.config()["api_key"] not in output_text(output)


def test_missing_api_key_names_the_field(simulator):
    config = {k: v for k, v in simulator.config().items() if k != "api_key"}
    status = check_status(run_command("check", config))
    assert status.status == Status.FAILED and "'api_key'" in status.message and "API Keys" in status.message


@pytest.mark.parametrize(
    "api_url",
    ["http://api.close.com/api/v1/", "ftp://127.0.0.1/api/v1/", "http://10.0.0.5/api/v1/", "api.close.com"],
)
def test_unsafe_api_url_is_a_config_error_naming_the_field(simulator, api_url):
    status = check_status(run_command("check", simulator.config(api_url=api_url)))
    assert status.status == Status.FAILED
    assert "'api_url'" in status.message and "https://" in status.message


BROKEN_CONFIGS = [
    ({"start_date": "2021/01/01"}, "start_date"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"api_url": "ftp://127.0.0.1/api/v1/"}, "api_url"),
    ({"api_url": "http://api.close.com/api/v1/"}, "api_url"),
    ({"num_workers": 0}, "num_workers"),
    ({"num_workers": 51}, "num_workers"),
]


@pytest.mark.parametrize("override, setting", BROKEN_CONFIGS, ids=[f"{k}={v!r}" for o, _ in BROKEN_CONFIGS for k, v in o.items()])
def test_a_config_that_breaks_the_spec_fails_check_and_read_naming_the_setting(
    make_simulator, simulator, capfd, tmp_path, override, setting
):
    sim = make_simulator(**NO_LIMIT)
    config = {**sim.config(), **override}

    check = console(capfd, tmp_path, "check", config)
    assert check.status.status == Status.FAILED
    assert f"'{setting}'" in check.status.message, check.status.message

    read = console(capfd, tmp_path, "read", config, only(catalog_for(simulator.config()), ["users"]))
    assert len(read.errors) == 1, [e.message for e in read.errors]
    error = read.errors[0]
    assert error.failure_type == FailureType.config_error
    assert f"'{setting}'" in error.message, error.message
    assert not read.of(Type.RECORD)
    assert sim.stats()["totals"]["requests"] == 0, "a config that breaks the spec must not reach Close"


def test_an_empty_api_key_is_required_not_sent(make_simulator, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT)
    run = invoke(capfd, "check", "--config", write(tmp_path, "c.json", sim.config(api_key="")))
    assert run.status.status == Status.FAILED
    assert run.status.message.startswith("The 'api_key' setting is empty: paste your Close API key"), run.status.message
    assert sim.stats()["totals"]["requests"] == 0


def test_a_key_with_spaces_around_it_gets_the_hint_and_is_never_shown(make_simulator, capfd, tmp_path):
    sim = make_simulator(**NO_LIMIT)
    config = write(tmp_path, "c.json", sim.config(api_key=f" {sim.api_key}\n"))
    catalog = catalog_file(tmp_path, sim.config(), ["users"])
    sim.reset_stats()
    check = invoke(capfd, "check", "--config", config)
    assert check.status.status == Status.FAILED
    assert "starts or ends with a space or line break" in check.status.message, check.status.message
    read = invoke(capfd, "read", "--config", config, "--catalog", catalog)
    assert "starts or ends with a space" in read.only_error()
    assert sim.api_key not in check.out + check.err + read.out + read.err
    assert sim.stats()["totals"]["requests"] == 0
