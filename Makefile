# Every target works on a fresh clone: the stamp file creates .venv/ on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLES ?= examples
# The assignment of examples that do not name their own (notebook metadata or `# grader: assignment=`).
EXAMPLES_ASSIGNMENT ?= leaky_relu_backward
OUT ?= out
PYTESTOPTS ?=
BENCHOPTS ?=
# The package's bytecode, compiled as a (non-editable) pip install does: where
# PYTHONDONTWRITEBYTECODE is set (many CI and Docker images), every grader process, worker and
# sandbox would otherwise compile ~13,000 lines again (~0.1 s each). Up-to-date files are skipped.
COMPILE = $(BIN)/python -m compileall -q grader >/dev/null

.DEFAULT_GOAL := help
# One line per graded example: name, score, and the mistakes found (or why nothing scored).
SUMMARIZE = import json,sys; d=json.load(open(sys.argv[1])); lines=d['output'].splitlines(); \
	why=', '.join(d['extra_data']['misconceptions']) or ('-' if d['score']==d['max_score'] or len(lines)<2 else lines[1][:70]); \
	print('%-22s %5g / %g   %s' % (sys.argv[2], d['score'], d['max_score'], why))
.PHONY: help install grade test test-clean-system lint format typecheck check bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(COMPILE)
	touch $@

install: $(VENV)/.installed ## create .venv/ with the grader and its dev tools

grade: $(VENV)/.installed ## grade the example submissions into out/
	@mkdir -p $(OUT)
	@$(COMPILE)
	@$(BIN)/grader doctor --summary
	@for f in $(EXAMPLES)/*.ipynb $(EXAMPLES)/*.py; do \
		[ -e "$$f" ] || continue; \
		name=$$(basename "$${f%.*}"); \
		named=$$(grep -Eqs '"grader": *\{|^# *grader: *assignment *=' "$$f" || echo "--assignment $(EXAMPLES_ASSIGNMENT)"); \
		$(BIN)/grader grade "$$f" $$named --out "$(OUT)/$$name.json" || exit $$?; \
		$(BIN)/python -c "$(SUMMARIZE)" "$(OUT)/$$name.json" "$$name"; \
	done
	@echo "results written to $(OUT)/"

test: $(VENV)/.installed ## run the test suite
	@$(COMPILE)
	$(BIN)/python -m pytest $(PYTESTOPTS)

test-clean-system: $(VENV)/.installed ## the Gradescope package on a fresh Debian (slow, root)
	$(BIN)/python -m pytest -m clean_system tests/system $(PYTESTOPTS)

lint: $(VENV)/.installed ## ruff check + format check (read-only)
	$(BIN)/ruff check grader tests assignments reference
	$(BIN)/ruff format --check grader

format: $(VENV)/.installed ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix grader tests assignments reference
	$(BIN)/ruff format grader

typecheck: $(VENV)/.installed ## mypy --strict on the package
	$(BIN)/mypy

check: lint typecheck test ## lint, typecheck and test

bench: $(VENV)/.installed ## measure speed (see docs/benchmarks.md)
	@$(COMPILE)
	$(BIN)/python benchmarks/run.py $(BENCHOPTS)
	@if [ -f benchmarks/isolation.py ]; then $(BIN)/python benchmarks/isolation.py; fi

clean: ## remove the venv and generated files
	rm -rf $(VENV) $(OUT) .mypy_cache .ruff_cache .pytest_cache
