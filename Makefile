# Two commands on a fresh machine:
#   make demo   create .venv, install hpo and its dependencies, run the quickstart study
#   make test   the test suite (what CI runs)
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: demo test install

demo: install
	$(BIN)/hpo run search_spaces/quickstart.yaml

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$status
