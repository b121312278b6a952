"""One declaration per setting: flags, environment names and wire overrides all derive from the
pydantic models, so none can drift from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from attacker.__main__ import build_parser as attacker_parser
from attacker.__main__ import method_params
from attacker.labels import LabelRule
from attacker.probe_methods import METHOD_PARAMS
from attacker.settings import AttackerSettings, InferConfig, ProbingConfig
from developer.__main__ import build_parser as developer_parser
from developer.__main__ import main as developer_main
from developer.__main__ import settings_from
from developer.settings import DeletionClientSettings, PushTarget, ServiceConfig, TrainingConfig
from server.__main__ import ENVIRONMENT_ONLY, uvicorn_options
from server.__main__ import build_parser as server_parser
from server.settings import ServerSettings
from shared.cli import flag_values
from shared.schemas import (AttackReport, BoundaryParams, DeletionRequest, ModelMetadata, NESParams, TrainingSummary,
                            UnlearningConfig,
                            UnlearningOptions)
from tests.conftest import make_meta


def fields_without_flag(parser, command: str, models) -> dict[str, set[str]]:
    """For each model, the fields that `command` has no flag for (empty: all covered). A method's
    `name` is the value of --method, not a flag of its own; `infer`'s `rule` is LabelRule's flags."""
    have = dests(parser, command) | {"name", "rule"}
    return {model.__name__: set(model.model_fields) - have for model in models if set(model.model_fields) - have}


def dests(parser, command: str) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {a.dest for a in sub._actions}


@pytest.mark.parametrize("command, models", [
    ("pretrain", [TrainingConfig]),
    ("finetune", [TrainingConfig, PushTarget]),
    ("unlearn", [TrainingConfig, UnlearningConfig, PushTarget]),
    ("serve", [TrainingConfig, UnlearningConfig, ServiceConfig, PushTarget]),
    ("request", [UnlearningConfig, DeletionClientSettings]),
    ("push", [PushTarget]),
])
def test_every_developer_setting_has_its_flag(command, models):
    assert fields_without_flag(developer_parser(), command, models) == {}


def test_developer_flags_override_the_environment_which_overrides_defaults(monkeypatch):
    monkeypatch.setenv("UIA_DEVELOPER_SEED", "7")
    monkeypatch.setenv("UIA_DEVELOPER_REGIME", "long")
    monkeypatch.setenv("UIA_DEVELOPER_SERVER_URL", "http://env:1")
    monkeypatch.setenv("UIA_DEVELOPER_UNLEARNING__METHOD", "approximate")
    monkeypatch.setenv("UIA_DEVELOPER_UNLEARNING__NOISE_SIGMA", "0.5")
    args = developer_parser().parse_args(["unlearn", "--seed", "3", "--sigma", "0.25", "--no-reseed", "--class",
                                          "cat", "--proportion", "0.5"])
    settings = settings_from(args)
    assert settings.seed == 3 and settings.regime == "long" and settings.server_url == "http://env:1"
    assert settings.unlearning.method == "approximate" and settings.unlearning.noise_sigma == 0.25
    assert settings.unlearning.reseed is False
    # the old names no longer configure anything
    monkeypatch.setenv("UIA_SERVER_URL", "http://old:2")
    assert settings_from(developer_parser().parse_args(["finetune"])).server_url == "http://env:1"


def test_bad_settings_are_refused_with_the_field_named():
    with pytest.raises(ValidationError, match="width"):
        settings_from(developer_parser().parse_args(["finetune", "--regime", "long", "--width", "0"]))
    with pytest.raises(SystemExit):  # argparse refuses an unknown choice before anything runs
        developer_parser().parse_args(["finetune", "--regime", "forever"])


def test_the_deletion_api_overrides_are_derived_from_the_unlearning_settings():
    assert list(UnlearningOptions.model_fields) == list(UnlearningConfig.model_fields)
    for name, info in UnlearningOptions.model_fields.items():
        assert info.default is None and info.description == UnlearningConfig.model_fields[name].description
    with pytest.raises(ValidationError):  # the constraints come along
        DeletionRequest.model_validate({"sample_ids": [1], "unlearning": {"approx_lr": 0}})
    with pytest.raises(ValidationError):
        DeletionRequest.model_validate({"sample_ids": [1], "unlearning": {"not_a_setting": 1}})
    request = DeletionRequest.model_validate({"sample_ids": [1], "unlearning": {"noise_sigma": 0.1}})
    merged = UnlearningConfig(method="approximate").with_overrides(request.unlearning)
    assert merged.method == "approximate" and merged.noise_sigma == 0.1


def test_published_training_facts_are_an_allow_list():
    make_meta(training={"stage": "unlearned", "test_accuracy": 0.5})
    for leak in ({"steps": 3}, {"method": "approximate"}, {"removed": 10}, {"ascent_loss_first": 2.3}):
        with pytest.raises(ValidationError, match="Extra inputs"):
            ModelMetadata.model_validate({**make_meta().model_dump(), "training": leak})
    assert set(TrainingSummary.model_fields).isdisjoint({"steps", "method", "removed", "sample_ids"})


@pytest.mark.parametrize("command, models", [
    ("probe", [AttackerSettings, ProbingConfig, *METHOD_PARAMS.values()]),
    ("infer", [AttackerSettings, InferConfig, LabelRule]),
    ("snapshot", [AttackerSettings]),
    ("boundary", [AttackerSettings, BoundaryParams]),
])
def test_every_attacker_option_has_its_flag(command, models):
    assert fields_without_flag(attacker_parser(), command, models) == {}


@pytest.mark.parametrize("method", ["zoo", "nes"])
def test_a_shared_method_flag_sets_the_chosen_method_and_defaults_stay_its_own(method):
    args = attacker_parser().parse_args(["probe", "--method", method, "--lr", "0.37"])
    assert method_params(args, method).lr == 0.37
    default = method_params(attacker_parser().parse_args(["probe"]), method)
    assert default.lr == METHOD_PARAMS[method].model_fields["lr"].default
    assert default.name == method


def test_another_methods_flag_is_an_error_not_silently_ignored():
    args = attacker_parser().parse_args(["probe", "--method", "nes", "--nb-parallel", "8"])
    with pytest.raises(ValueError, match="--method nes has no parameter --nb-parallel"):
        method_params(args, "nes")
    assert method_params(attacker_parser().parse_args(["probe", "--method", "natural", "--pool", "50"]),
                         "natural").pool == 50


def test_every_recovery_option_has_its_flag():
    from recovery.__main__ import build_parser as recovery_parser
    from recovery.config import RecoveryConfig
    from recovery.settings import OVERRIDABLE, RecoveryRun

    have = {a.dest for a in recovery_parser()._actions}
    assert set(RecoveryRun.model_fields) | set(OVERRIDABLE) <= have
    assert set(OVERRIDABLE) <= set(RecoveryConfig.model_fields)


def test_the_attacker_reads_only_its_own_environment(monkeypatch):
    monkeypatch.setenv("UIA_SERVER_URL", "http://old:1")
    monkeypatch.setenv("UIA_SERVER_ADMIN_TOKEN", "secret")
    assert AttackerSettings().server_url == "http://127.0.0.1:8000"
    assert not {"admin_token", "server_token", "token"} & set(AttackerSettings.model_fields)
    monkeypatch.setenv("UIA_ATTACKER_SERVER_URL", "http://api:8000")
    assert AttackerSettings().server_url == "http://api:8000"


def test_an_attack_report_round_trips_and_refuses_inconsistent_content():
    report = AttackReport.model_validate({
        "versions": {"before": "a", "after": "b"}, "probes_per_class": {"x": 1, "y": 1},
        "probe_method": {"name": "nes", "max_queries": 500},
        "queries": {"probing": 10, "snapshot_before": 2, "snapshot_after": 2}, "statistic": "logodds",
        "detection": {"score": 3.0},
        "rankable": True, "ranking": ["x", "y"], "inferred": ["x"], "scores": {"x": -1.0, "y": None},
        "confidence": {"lead": 1.0, "top_separation": 3.0, "label": "medium"}})
    assert report.queries.total == 14
    assert AttackReport.model_validate_json(report.model_dump_json()) == report
    assert report.probe_method == NESParams(max_queries=500)  # typed by its name, defaults filled in
    with pytest.raises(ValidationError, match="needs ranking"):
        AttackReport.model_validate({**report.model_dump(), "ranking": None})
    with pytest.raises(ValidationError, match="must say why"):
        AttackReport.model_validate({**report.model_dump(), "rankable": False})


def test_a_missing_version_directory_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit, match="error: .*No such file"):
        developer_main(["push", str(tmp_path / "nowhere"), "--server-token", "t"])
    assert capsys.readouterr().out == ""  # nothing on stdout: there is no result


def test_every_server_setting_has_its_flag_but_the_structured_ones():
    assert fields_without_flag(server_parser(), "serve", [ServerSettings]) == {"ServerSettings": set(ENVIRONMENT_ONLY)}


def test_server_flags_override_the_environment_and_reach_uvicorn(monkeypatch, tmp_path):
    monkeypatch.setenv("UIA_SERVER_MAX_CONNECTIONS", "64")
    monkeypatch.setenv("UIA_SERVER_ALLOW_ANONYMOUS", "false")
    args = server_parser().parse_args(["serve", "--max-connections", "128", "--max-images", "7", "--store-dir",
                                       str(tmp_path), "--allow-shared-memory"])
    settings = ServerSettings(**flag_values(args, ServerSettings))
    assert settings.max_connections == 128 and settings.max_images_per_request == 7
    assert settings.allow_anonymous is False and settings.allow_shared_memory is True
    options = uvicorn_options(settings)
    assert options["limit_concurrency"] == 128 and options["proxy_headers"] is False


@pytest.mark.parametrize("settings, served", [
    ({}, True),  # the default (the demo, the tests): no keys, anonymous callers served
    ({"api_keys": {"a": None}}, True),
    ({"api_keys": {"a": 5}}, False),  # a budget a caller could dodge by dropping its key
    ({"api_keys": {"a": 5}, "anonymous_budget": 10}, True),
    ({"allow_anonymous": False}, False),
])
def test_anonymous_access_never_dodges_a_budget(settings, served):
    assert ServerSettings(**settings).serves_anonymous is served


def test_the_body_pool_holds_at_least_one_body():
    assert ServerSettings(max_body_bytes=2**20).buffered_body_bytes == 4 * 2**20
    with pytest.raises(ValidationError, match="max_buffered_body_bytes"):
        ServerSettings(max_body_bytes=2**20, max_buffered_body_bytes=2**19)
