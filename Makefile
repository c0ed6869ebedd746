# Two commands on a fresh machine:
#   make demo   create .venv, install hpo and its dependencies, run the quickstart study
#   make test   lint, format and type checks, the test suite (what CI runs), and the
#               spec, study and engine tests on the oldest Optuna allowed
VENV   ?= .venv
OLDEST ?= .venv-oldest-optuna
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: demo test check install oldest

demo: install
	$(BIN)/hpo run search_spaces/quickstart.yaml

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@

# Lint, formatting and types: cheap, so they run first and fail fast.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a failure here, not a pass. Two test
# files run at a time (pytest-xdist): most of the suite's time is spent waiting on Ray and on
# the processes the tests start, so two at a time take about 0.6 of the time on 2 cores. A
# file stays on one worker, so its module fixtures (a real study) run once. Files are handed
# out in the order tests/conftest.py gives them, the slow ones first (pytest-xdist would hand
# out the files of most tests first, and leave the slow ones, of few tests each, to the end).
test: check oldest
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder; status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected"; exit 1; fi; [ $$status -eq 0 ] || exit $$status; \
	echo "tests/spec, tests/study and tests/engine on optuna $$($(OLDEST)/bin/python -c 'import optuna; print(optuna.__version__)')"; \
	$(OLDEST)/bin/python -m pytest tests/spec tests/study tests/engine -q -p no:cacheprovider

# The oldest Optuna pyproject.toml allows, beside everything else of $(VENV): a venv
# holding only that Optuna, which then finds the rest in $(VENV)'s site-packages.
oldest: $(OLDEST)/.installed

$(OLDEST)/.installed: pyproject.toml $(VENV)/.installed
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --no-deps \
		"optuna==$$(sed -n 's/.*"optuna>=\([0-9.]*\).*/\1/p' pyproject.toml)"
	echo "import site; site.addsitedir('$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" \
		> "$$($(OLDEST)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz_hpo_main_venv.pth"
	touch $@
