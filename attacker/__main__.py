"""`python -m attacker`: black-box label inference against a model that is unlearning.

    probe     make probes (inputs the model gives one class with high confidence) for every class,
              then snapshot the probed version's answers
    snapshot  record the served version's answers to the probes
    infer     compare two snapshots and rank the classes by their confidence drop
    boundary  label-only outputs: measure the served version's distances to the decision boundary
              along fixed random directions (`infer` then ranks by their change)

Everything goes through the server's public API. Every option is a field of the attacker's
settings (attacker/settings.py) or of a probe method's parameters (shared/schemas/probe_methods.py);
the address and API key may also come from UIA_ATTACKER_SERVER_URL and UIA_ATTACKER_API_KEY. A run
directory keeps the probes, snapshots and reports; an interrupted `probe` resumes where it
stopped. Each command is one call of the attacker's library (attacker/campaign.py). stdout
carries one JSON result (for `infer`, the report); progress goes to stderr.
Exit status: 0 done, 1 error, 3 no ranking possible.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel
from rich.console import Console

from attacker.campaign import Campaign
from attacker.capabilities import CannotAttack
from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.labels import LabelRule
from attacker.probe_methods import METHOD_PARAMS
from attacker.results import Refusal
from attacker.settings import AttackerSettings, InferConfig, ProbingConfig
from shared.cli import add_model_flags, flag_values
from shared.schemas import AttackReport, BoundaryParams, ProbeMethodParams

console = Console(stderr=True)
NO_RANKING = 3


# ---------------------------------------------------------------- flags, derived from the models
def add_method_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per probe-method parameter. A parameter several methods share (threshold, lr, ...)
    is one flag whose help gives each method's default; the others sit in their method's group."""
    owners: dict[str, list[str]] = {}
    for method, params in METHOD_PARAMS.items():
        for name in params.model_fields:
            if name != "name":  # --method says which
                owners.setdefault(name, []).append(method)
    shared = tuple(name for name, methods in owners.items() if len(methods) > 1)
    group = parser.add_argument_group("probe methods (shared parameters)")
    for name in shared:
        default = "; ".join(f"{m}: default {METHOD_PARAMS[m].model_fields[name].default}" for m in owners[name])
        add_model_flags(group, METHOD_PARAMS[owners[name][0]], only=(name,), notes={name: default},
                        show_defaults=False)
    for method, params in METHOD_PARAMS.items():
        add_model_flags(parser.add_argument_group(f"{method} probes"), params, skip=(*shared, "name"))


def method_params(args: argparse.Namespace, method: str) -> ProbeMethodParams:
    """The chosen method's parameters from the flags given; another method's flag is an error."""
    params = METHOD_PARAMS[method]
    others = {name for other in METHOD_PARAMS.values() for name in other.model_fields} - set(params.model_fields)
    foreign = sorted(name for name in others if getattr(args, name, None) is not None)
    if foreign:
        raise ValueError(f"--method {method} has no parameter {', '.join('--' + f.replace('_', '-') for f in foreign)}")
    return params(**flag_values(args, params))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attacker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {"probe": "generate probes against the served model (resumable)",
                "snapshot": "record the served version's answers to the probes",
                "infer": "rank classes by confidence drop between two versions",
                "boundary": "label-only: measure the served version's distances to the decision boundary"}
    for name, help_ in commands.items():
        p = sub.add_parser(name, help=help_)
        add_model_flags(p.add_argument_group("the API and the run"), AttackerSettings,
                        aliases={"server_url": ("--server",)})
        if name == "probe":
            add_model_flags(p.add_argument_group("probing"), ProbingConfig)
            p.add_argument("--fresh", dest="restart", action="store_const", const="always",
                           help="discard probes already in the run directory (--restart always)")
            add_method_flags(p)
        elif name == "infer":
            add_model_flags(p.add_argument_group("inference"), InferConfig, skip=("rule",))
            add_model_flags(p.add_argument_group("labels (the defaults are the frozen rule)"), LabelRule)
        elif name == "boundary":
            add_model_flags(p.add_argument_group("the measurement (its inputs are chosen on the first one of a run)"),
                            BoundaryParams, skip=("name",))
            p.add_argument("--fresh", action="store_true",
                           help="discard the run's boundary inputs and measurements and choose new inputs")
    return parser


# ---------------------------------------------------------------- commands: one library call each
def cmd_probe(args, campaign: Campaign) -> BaseModel:
    config = ProbingConfig(**flag_values(args, ProbingConfig))
    return campaign.make_probes(config.spec(method_params(args, config.method)), config.classes, config.restart)


def cmd_snapshot(args, campaign: Campaign) -> BaseModel:
    result = campaign.snapshot()
    console.print(f"snapshot of {result.version}: {result.queries} queries")
    return result


def cmd_infer(args, campaign: Campaign) -> BaseModel:
    report = campaign.infer(InferConfig(**flag_values(args, InferConfig), rule=LabelRule(**flag_values(args, LabelRule))))
    campaign.publish(report)
    return report


def cmd_boundary(args, campaign: Campaign) -> BaseModel:
    return campaign.measure_boundaries(BoundaryParams(**flag_values(args, BoundaryParams)), args.fresh)


COMMANDS = {"probe": cmd_probe, "snapshot": cmd_snapshot, "infer": cmd_infer, "boundary": cmd_boundary}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = AttackerSettings(**flag_values(args, AttackerSettings))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    log = lambda message: console.print(f"[yellow]{message}[/]")  # noqa: E731
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    with InferenceClient(settings.server_url, api_key=api_key, max_budget_wait=settings.max_budget_wait,
                         log=log, shared_memory=settings.shared_memory, model_name=settings.model_name) as client:
        campaign = Campaign(client, settings.run, public_data=settings.public_data, console=console)
        try:
            result: BaseModel = COMMANDS[args.command](args, campaign)
        except VersionChanged as exc:
            raise SystemExit(f"error: the server replaced version {exc.expected} by {exc.got} during the "
                             f"measurement. The probes made so far are saved in {settings.run}, but probes and "
                             "snapshots must each come from one version: probe again with --fresh "
                             "(and snapshot the old version before the next change).") from None
        except BudgetExhausted as exc:
            raise SystemExit(f"error: {exc}. Everything made so far is saved in {settings.run}: run the same "
                             f"command again in {exc.retry_after:.0f} s to continue.") from None
        except CannotAttack as exc:
            console.print(f"[bold red]the attack cannot run:[/] {exc}")
            print(Refusal(reason=str(exc)).model_dump_json(indent=2), flush=True)
            raise SystemExit(NO_RANKING) from None
        except (ApiError, ValueError, FileNotFoundError, TimeoutError) as exc:
            raise SystemExit(f"error: {exc}") from None
    print(result.model_dump_json(indent=2), flush=True)
    if isinstance(result, AttackReport) and not result.rankable:
        raise SystemExit(NO_RANKING)


if __name__ == "__main__":
    main()
