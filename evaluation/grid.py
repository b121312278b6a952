"""The grid an evaluation runs, described by a TOML file and validated here: one `GridConfig`
expands into independent `Case`s.

A case is one deletion story told to the real system: an original model (recipe, regime, seed),
the classes removed and the proportion p of each, the unlearning method, and a defense. The
attacker's side of a case is its probe set, made once per served original and shared by every
case against it (`Case.probe_key`).

Every part is built from the services' own models, not re-declared: the original's recipe is the
developer's `ModelRecipe`, a defense is the server's `DeploymentOptions` and the developer's
`UnlearningOptions`, the attacker's probes are its `ProbeSpec` and its shadow models its
`ShadowConfig`. Their defaults are the services' defaults.

Seeds are of two kinds. `seeds` are the ones scored. `calibration_seeds` are held apart: what the
harness chooses from data (the headline statistic, the confidence rule's thresholds) is chosen on
them alone, so that no reported number is tuned on the cases it scores.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from attacker import MIN_HISTORY, STATISTICS, InferConfig, LabelRule, ProbeSpec, ShadowConfig
from developer.config import REGIMES
from developer.settings import ModelRecipe
from shared.digest import Frozen, text_digest
from shared.schemas import DeploymentOptions, UnlearningConfig, UnlearningOptions

Method = Literal["exact", "exact-reseeded", "approximate"]
NullKind = Literal["spread", "retrain"]
NullChoice = Literal["auto", "none", "history", "shadow", "resample"]
NullScores = Literal["relative", "centred"]


class Recipe(Frozen, ModelRecipe):
    """The developer's `ModelRecipe`, frozen: part of what names a cached model."""


class Defense(Frozen):
    """One defense (or none). Server-side options apply to the deployed versions: `before` to the
    original (what the attacker probes), `after` to the unlearned one. Developer-side options
    (`unlearning`: noise, public fine-tuning) change how the unlearned version is made."""

    name: str
    before: DeploymentOptions = DeploymentOptions()
    after: DeploymentOptions = DeploymentOptions()
    unlearning: UnlearningOptions = Field(default_factory=UnlearningOptions,
                                          description="overrides of the developer's UnlearningConfig")

    @property
    def active(self) -> bool:
        """Whether anything is defended at all (the baseline of a defense table is the case without)."""
        return (self.before, self.after, self.unlearning) != (DeploymentOptions(), DeploymentOptions(),
                                                               UnlearningOptions())

    @property
    def pruning(self) -> tuple[float, str] | None:
        """(rate, policy) of a pruning defense: the unlearned version pruned alone (the report's
        policy), or every deployed version alike (an operator's); None when nothing is pruned."""
        if self.after.prune_rate == 0:
            return None
        return self.after.prune_rate, "every-version" if self.before.prune_rate == self.after.prune_rate else \
            "unlearned-only" if self.before.prune_rate == 0 else f"original-{self.before.prune_rate:g}"


class Prober(Frozen):
    """What decides the attacker's run before any update: its probes and its shadow models."""

    probes: ProbeSpec = ProbeSpec()
    shadow: ShadowConfig | None = Field(None, description="shadow calibration (needs the public data the harness "
                                                          "hands over); None: off")

    def capabilities(self) -> list[str]:
        """What the attacker holds beyond the API (named in every table)."""
        public = self.probes.needs_public_data or self.shadow is not None
        return (["public data"] if public else []) + (["shadow models"] if self.shadow is not None else [])


class Attacker(Prober):
    """What the attacker of a grid holds and does: its probes and shadow models, its statistic,
    its null model and labelling rule."""

    statistic: Literal[tuple(STATISTICS)] = Field(  # type: ignore[valid-type]
        "logodds", description="the statistic the attacker reports with")
    null: NullChoice = Field("auto", description="the null model it measures classes against (InferConfig.null)")
    null_scores: NullScores = Field("relative", description="how an update's scores meet the null's "
                                                            "(InferConfig.null_scores)")
    rule: LabelRule = Field(default_factory=LabelRule, description="when it names a class, and how sure")

    def infer_config(self, before: str, after: str) -> InferConfig:
        return InferConfig(before=before, after=after, statistic=self.statistic, null=self.null,
                           null_scores=self.null_scores, rule=self.rule)

    @property
    def prober(self) -> Prober:
        return Prober(probes=self.probes, shadow=self.shadow)


class Nulls(Frozen):
    """Updates that single out no class, told to the system beside the positive cases and sharing
    their models and probes: what the attack's false alarms are measured on."""

    spread: int = Field(3, ge=0, description="per original, proportion and method: deletions of as many samples as "
                                             "the proportion of one class holds, spread at random over all classes")
    retrains: int = Field(3, ge=0, description="per original: exact retrains with a fresh data order and nothing "
                                               "removed")


class Removal(Frozen):
    """Which classes one case removes: `count` classes at once; with `count` > 1 the grid draws
    `draws` seeded combinations (scored top-N, N = count)."""

    count: int = Field(1, ge=1)
    draws: int = Field(10, ge=1)


class GridConfig(Frozen):
    name: str
    model: Recipe = Recipe()
    regimes: list[str] = ["paper-code"]
    classes: list[str] | None = Field(None, description="classes removed one at a time (names); None: all")
    removals: list[Removal] = [Removal()]
    # not 0.01 beside 0.003: in paper-code (about 51 fine-tuning samples per class) both remove the
    # same single sample, and a grid would pool the same cases twice as if independent
    proportions: list[float] = [0.003, 0.1, 0.25, 0.5, 0.9]
    methods: list[Method] = ["exact"]
    defenses: list[Defense] = [Defense(name="none")]
    seeds: list[int] = [0, 1, 2]
    calibration_seeds: list[int] = Field([], description="held apart: thresholds and the headline statistic "
                                                         "are chosen on these, never on `seeds`")
    nulls: Nulls = Nulls()
    attacker: Attacker = Attacker()
    protocol: str | None = Field(None, description="the pre-registered protocol (evaluation/protocols/<name>.json) "
                                                   "the grid's attacker is taken from; its scored seeds must be fresh")

    @field_validator("proportions")
    @classmethod
    def _proportions(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < p <= 1 for p in value):
            raise ValueError("proportions must lie in (0, 1]")
        return value

    @field_validator("regimes")
    @classmethod
    def _regimes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(REGIMES))
        if unknown:
            raise ValueError(f"unknown regimes {unknown}; there are {sorted(REGIMES)}")
        return value

    @field_validator("proportions", "seeds", "calibration_seeds", "regimes", "methods", "classes")
    @classmethod
    def _unique(cls, value: list | None) -> list | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"listed twice in {value}: a case would count twice")
        return value

    @field_validator("defenses")
    @classmethod
    def _named_once(cls, value: list[Defense]) -> list[Defense]:
        names = [d.name for d in value]
        if len(set(names)) != len(names):
            raise ValueError(f"defense names must be unique, got {names}")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> GridConfig:
        if set(self.seeds) & set(self.calibration_seeds):
            raise ValueError("seeds and calibration_seeds must not overlap: thresholds chosen on scored cases "
                             "would be tuned on them")
        return self

    @classmethod
    def load(cls, path: Path) -> GridConfig:
        with open(path, "rb") as f:
            return cls.model_validate(tomllib.load(f))


class OriginalKey(Frozen):
    """What decides the original model θ."""

    recipe: Recipe
    regime: str
    seed: int


class ProbeKey(Frozen):
    """What decides a probe set: the original, how it was served when probed, how probes are made
    (the probe method with every parameter resolved, defaults included)."""

    original: OriginalKey
    served: DeploymentOptions
    prober: Prober


class HistoryKey(Frozen):
    """What decides the history an attacker has watched before a case's update: the probe run it
    was observed on, how the service made its updates (the developer-side options) and which
    null updates they were (a digest of their stories)."""

    probe: ProbeKey
    unlearning: UnlearningOptions
    updates: str


class Case(Frozen):
    original: OriginalKey
    classes: tuple[str, ...] = Field(description="the classes removed; none for a null update")
    proportion: float = Field(description="p of each removed class; for a spread null, the p whose sample count it "
                                          "deletes; 0 for a retrain")
    method: Method
    defense: Defense
    attacker: Attacker
    null: NullKind | None = Field(None, description="spread: random samples of every class deleted; retrain: "
                                                    "nothing deleted, a fresh data order; None: a positive case")
    draw: int = Field(0, ge=0, description="which null of its kind")
    history: str = Field("", description="which null updates the attacker watched before this case's (a digest)")
    protocol: str | None = Field(None, description="the protocol (name and digest) the attacker was frozen by")
    calibration: bool = Field(description="a held-apart seed: used to choose, never scored")

    @property
    def probe_key(self) -> ProbeKey:
        return ProbeKey(original=self.original, served=self.defense.before, prober=self.attacker.prober)

    @property
    def history_key(self) -> HistoryKey:
        return HistoryKey(probe=self.probe_key, unlearning=self.defense.unlearning, updates=self.history)

    @property
    def statistic(self) -> str:
        return self.attacker.statistic

    def unlearning(self) -> UnlearningConfig:
        # a retrain's fresh order: its own seed, never the original's (which would give θ back)
        order_seed = int(text_digest(f"retrain {self.original.seed} {self.draw}", 8), 16) if self.null == "retrain" \
            else None
        base = UnlearningConfig(method="approximate" if self.method == "approximate" else "exact",
                                reseed=self.method == "exact-reseeded", order_seed=order_seed)
        return base.with_overrides(self.defense.unlearning)

    @property
    def story(self) -> tuple:
        """What decides the unlearned version: the cases that share it are one story."""
        return self.original, self.classes, self.proportion, self.null, self.draw, self.unlearning()

    def label(self) -> str:
        removed = f"null {self.null} #{self.draw}" if self.null else "+".join(self.classes)
        return (f"{self.original.regime} seed {self.original.seed} {removed} p={self.proportion:g} "
                f"{self.method} {self.defense.name}")


def expand(config: GridConfig, all_classes: list[str]) -> list[Case]:
    """Every case of the grid, in a stable order (cheap originals first, so work is shared early)."""
    names = config.classes or all_classes
    unknown = sorted(set(names) - set(all_classes))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; the dataset has {all_classes}")
    cases = []
    for seed in [*config.calibration_seeds, *config.seeds]:
        for regime in config.regimes:
            original = OriginalKey(recipe=config.model, regime=regime, seed=seed)
            for removal, p, method, defense in itertools.product(config.removals, config.proportions, config.methods,
                                                                 config.defenses):
                for classes in _removed_sets(removal, names, seed):
                    cases.append(Case(original=original, classes=classes, proportion=p, method=method,
                                      defense=defense, attacker=config.attacker, protocol=config.protocol,
                                      calibration=seed in config.calibration_seeds))
            cases += null_cases(config, original, seed in config.calibration_seeds)
    cases = with_histories(cases)
    if config.attacker.null == "history":
        check_history(cases)
    return cases


def watched_key(original: OriginalKey, unlearning: UnlearningOptions) -> tuple:
    """The null updates an attacker watched before a case's update are those of its original, made
    with its developer-side options."""
    return original, unlearning.model_dump_json()


def watched_nulls(cases: list[Case]) -> dict[tuple, dict[tuple, Case]]:
    """For each `watched_key`, its null updates: one case per null version (story), in grid order."""
    watched: dict[tuple, dict[tuple, Case]] = {}
    for c in cases:
        if c.null is not None:
            watched.setdefault(watched_key(c.original, c.defense.unlearning), {})[c.story] = c
    return watched


def with_histories(cases: list[Case]) -> list[Case]:
    """Each case with the digest of the null updates its attacker watched first: the nulls of its
    original made with its developer-side options (they are the history of every such case)."""
    digests = {key: text_digest(" | ".join(sorted({f"{c.null} {c.draw} {c.proportion:g} {c.method}"
                                                   for c in nulls.values()})))
               for key, nulls in watched_nulls(cases).items()}
    return [c.model_copy(update={"history": digests.get(watched_key(c.original, c.defense.unlearning),
                                                        text_digest(""))})
            for c in cases]


def check_history(cases: list[Case]) -> None:
    """The history null tests an update against the other null updates its attacker watched (a
    null case's own version is not among them): too few, and the grid would stop at its first such
    case, hours in; refused before anything starts."""
    watched = watched_nulls(cases)
    for c in cases:
        others = len(watched.get(watched_key(c.original, c.defense.unlearning), {})) - (c.null is not None)
        if others < MIN_HISTORY:
            raise ValueError(f"the history null needs {MIN_HISTORY} other null updates per case; {c.label()} has "
                             f"{others}: raise [nulls] spread or retrains")


def null_cases(config: GridConfig, original: OriginalKey, calibration: bool) -> list[Case]:
    """The grid's null updates of one original: spread deletions for every proportion and method
    (as many draws as `nulls.spread`), and retrains with nothing deleted (`nulls.retrains`), each
    under every defense."""
    common = dict(original=original, classes=(), attacker=config.attacker, protocol=config.protocol,
                  calibration=calibration)
    cases = [Case(**common, proportion=p, method=method, defense=defense, null="spread", draw=d)
             for p, method, defense in itertools.product(config.proportions, config.methods, config.defenses)
             for d in range(config.nulls.spread)]
    cases += [Case(**common, proportion=0.0, method="exact-reseeded", defense=defense, null="retrain", draw=d)
              for defense in config.defenses for d in range(config.nulls.retrains)]
    return cases


def _removed_sets(removal: Removal, names: list[str], seed: int) -> list[tuple[str, ...]]:
    if removal.count > len(names):
        raise ValueError(f"cannot remove {removal.count} classes at once from {len(names)}")
    if removal.count == 1:
        return [(name,) for name in names]
    combos = list(itertools.combinations(names, removal.count))
    picks = np.random.default_rng([seed, 0xC0, removal.count]).permutation(len(combos))[:removal.draws]
    return [combos[i] for i in sorted(picks)]
