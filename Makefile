# The front door. No logic here: each target is one command in the right environment.
# Recipes: RECIPE=recipes/<name>.yaml; overrides: ARGS="finetune.epochs=1 serve.port=8001".
RECIPE ?= recipes/quickstart.yaml
ARGS   ?=
APP     = $(shell python3 envs/manage.py python app)
# the `medkit` command (medkit/cli.py); make setup also installs it into the app environment
MEDKIT  = $(APP) -m medkit
export PYTHONPATH := $(CURDIR)

.PHONY: help setup lock validate data convert train export quantize index serve adapter stop status parity eval bench demo quickstart test test-fast

help:        ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/' | expand -t 14

setup:       ## create the app / train / serve / quant environments from envs/locks/ (idempotent)
	@python3 envs/manage.py setup

lock:        ## re-resolve envs/locks/*.txt from envs/requirements-*.txt (after editing those)
	@python3 envs/manage.py lock

validate: setup  ## validate RECIPE and print every error at once
	@$(MEDKIT) validate $(RECIPE) $(ARGS)

data: setup  ## convert the recipe's data sources into LLaMA-Factory datasets
	@$(MEDKIT) data $(RECIPE) $(ARGS)

convert: setup  ## convert one source by hand: FORMAT=name SRC='files' OUT=dir
	@$(MEDKIT) convert $(FORMAT) $(SRC) --out $(OUT)

train: setup  ## llamafactory-cli train on the rendered recipe (resumes)
	@$(MEDKIT) train $(RECIPE) $(ARGS)

export: setup  ## llamafactory-cli export (merge) + checks of the merged model
	@$(MEDKIT) export $(RECIPE) $(ARGS)

quantize: setup  ## the merged model -> runs/<name>/quantized/ (quantize: section; llmcompressor, CPU)
	@$(MEDKIT) quantize $(RECIPE) $(ARGS)

index: setup  ## build / update the Chroma + BM25 index of the corpus (ARGS=--reset to rebuild)
	@$(MEDKIT) index $(RECIPE) $(ARGS)

serve: setup  ## start vLLM (+ the RAG gateway when the recipe has rag) and wait until ready
	@$(MEDKIT) serve $(RECIPE) $(ARGS)

adapter: setup  ## add or remove a LoRA adapter while serving: ADD=name DIR=folder, or REMOVE=name (no args: list)
	@$(MEDKIT) adapter $(RECIPE) $(if $(ADD),--add $(ADD) --dir $(DIR)) $(if $(REMOVE),--remove $(REMOVE)) $(ARGS)

stop: setup  ## stop what `make serve` started for RECIPE
	@$(MEDKIT) stop $(RECIPE) $(ARGS)

status: setup  ## list the servers started from any run directory
	@$(MEDKIT) status

parity: setup  ## greedy outputs: HF+peft vs vLLM merged vs vLLM LoRA-mounted
	@$(MEDKIT) parity $(RECIPE) $(ARGS)

eval: setup  ## base vs SFT vs SFT+RAG over HTTP: metrics, report.md, plots in <run_dir>/eval (resumes)
	@$(MEDKIT) eval $(RECIPE) $(ARGS)

bench: setup  ## serving throughput: make serve vs vLLM by hand vs transformers, clients in two sessions
	@$(MEDKIT) bench $(RECIPE) $(ARGS)

demo: setup  ## Gradio demo over the served endpoint on demo.host:demo.port (127.0.0.1:7860)
	@$(MEDKIT) demo $(RECIPE) $(ARGS)

quickstart: setup  ## the whole pipeline, offline, CPU: the tiny default, or RECIPE=recipes/smollm2-135m_cpu_lora.yaml
	@$(MEDKIT) quickstart $(RECIPE) $(ARGS)

test: setup  ## the test suite (what CI runs): every lane, the engines included
	@$(APP) -m pytest -q tests $(PYTEST_ARGS)

test-fast: setup  ## the tests without engines (no training, vLLM, Chroma server or browser): under 2 min
	@$(APP) -m pytest -q -m "not engine and not slow" tests $(PYTEST_ARGS)
