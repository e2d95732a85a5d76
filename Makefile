# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= sample_models/mnist_784_100_100_10.onnx

.PHONY: demo test bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,plot,cluster]'
	touch $@

DEMO_OUT := build/demo/$(notdir $(SAMPLE:.onnx=.compressed.onnx))

demo: $(VENV)/.installed
	mkdir -p build/demo
	$(BIN)/exactprune inspect $(SAMPLE)
	$(BIN)/exactprune compress $(SAMPLE) $(DEMO_OUT) --force --json build/demo/report.json
	$(BIN)/exactprune verify $(SAMPLE) $(DEMO_OUT)
	$(BIN)/exactprune inspect $(DEMO_OUT)

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
