# Two commands: `make demo` runs the whole scenario, `make test` the test suite.
# Each creates the virtual environment it needs (idempotently) from the pinned constraints.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test fuzz test-compose lint evaluate bench-server bench-defenses bench-developer bench-probing bench-statistics bench-recovery bench-attack clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Schemathesis from outside: the CLI, every check, against a live server (docs/server.md)
fuzz: $(STAMP)
	$(BIN)/python -m devtools.fuzz $(FUZZ_ARGS)

# The story in containers (docs/compose.md): installs docker and starts dockerd when missing (root),
# fetches Compose v2 when the docker CLI has none, builds the images offline through the
# Dockerfile's default path, tells a tiny story and runs the tiny grid on Ray with compose, checks both.
test-compose: $(STAMP)
	docker/ensure-docker.sh
	$(BIN)/python -m devtools.compose_check $(COMPOSE_ARGS)

# runs/compose itself stays: it ships with the checkout (the compose attacker writes as its owner)
clean:
	rm -rf .pytest_cache $(filter-out runs/compose,$(wildcard runs/*)) \
	       $(filter-out runs/compose/README.md,$(wildcard runs/compose/*))

# The cpu evaluation grid (docs/evaluation.md): results and figures in docs/results/cpu/.
# EVALUATE_ARGS, e.g. "--executor ray" or another config: evaluation/configs/*.toml.
evaluate: $(STAMP)
	$(BIN)/python -m evaluation evaluation/configs/cpu.toml --out docs/results/cpu $(EVALUATE_ARGS)

bench-server: $(STAMP)
	$(BIN)/python benchmarks/bench_server.py $(BENCH_ARGS)

bench-defenses: $(STAMP)
	$(BIN)/python benchmarks/defense_examples.py $(BENCH_ARGS)

bench-developer: $(STAMP)
	$(BIN)/python benchmarks/bench_developer.py $(BENCH_ARGS)

bench-statistics: $(STAMP)
	$(BIN)/python benchmarks/compare_statistics.py $(BENCH_ARGS)

bench-probing: $(STAMP)
	$(BIN)/python benchmarks/bench_probing.py $(BENCH_ARGS)

bench-recovery: $(STAMP)
	$(BIN)/python benchmarks/bench_recovery.py $(BENCH_ARGS)

bench-attack: $(STAMP)
	$(BIN)/python benchmarks/bench_attack.py $(BENCH_ARGS)
