# Two commands do all set-up on a fresh machine (Python 3.11):
#   make demo   install, audit the example conversations, start the service on http://127.0.0.1:8000
#   make test   install, then run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# torch is installed first and pinned (a CPU wheel here comes from pip's find-links). Elsewhere, for the
# small CPU-only wheel: make TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

.PHONY: install demo audit-examples serve test lint bench train clean

$(BIN)/qa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0" $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(BIN)/qa

install: $(BIN)/qa

audit-examples: install
	$(BIN)/qa audit examples/ --json out/examples.jsonl --html out/report.html

demo: audit-examples
	@echo "report: out/report.html   API docs: http://127.0.0.1:$(PORT)/docs"
	@echo "admin token (send as 'Authorization: Bearer TOKEN'):"
	@$(BIN)/qa users add admin --role admin 2>/dev/null || $(BIN)/qa users token admin 2>/dev/null
	$(BIN)/qa serve --port $(PORT)

serve: install
	$(BIN)/qa serve --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check qa_pipeline api training tests bench
	$(BIN)/ruff format --check qa_pipeline api training tests bench
	$(BIN)/mypy qa_pipeline api training

train: install
	$(BIN)/python -m training.all

bench: install
	$(BIN)/python -m bench.text_throughput

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
