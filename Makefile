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
	$(BIN)/pip install --quiet -e '.[test,plot]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/exactprune inspect $(SAMPLE)
	$(BIN)/exactprune compress $(SAMPLE) /tmp/exactprune-demo.onnx --force
	$(BIN)/exactprune inspect /tmp/exactprune-demo.onnx

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
