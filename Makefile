# The front door. No logic here: each target is one command in the right environment.
# Recipes: RECIPE=recipes/<name>.yaml; overrides: ARGS="finetune.epochs=1 serve.port=8001".
RECIPE ?= recipes/quickstart.yaml
ARGS   ?=
APP     = $(shell python3 envs/manage.py python app)
export PYTHONPATH := $(CURDIR)

.PHONY: help setup lock validate data convert train export index serve adapter stop status parity eval bench demo quickstart test

help:        ## list the targets
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/' | expand -t 14

setup:       ## create the app / train / serve environments from envs/locks/ (idempotent)
	@python3 envs/manage.py setup

lock:        ## re-resolve envs/locks/*.txt from envs/requirements-*.txt (after editing those)
	@python3 envs/manage.py lock

validate: setup  ## validate RECIPE and print every error at once
	@$(APP) -m recipes.validate $(RECIPE) $(ARGS)

data: setup  ## convert the recipe's data sources into LLaMA-Factory datasets
	@$(APP) -m converters.build $(RECIPE) $(ARGS)

convert: setup  ## convert one source by hand: FORMAT=name SRC='files' OUT=dir
	@$(APP) -m converters $(FORMAT) $(SRC) --out $(OUT)

train: setup  ## llamafactory-cli train on the rendered recipe (resumes)
	@$(APP) -m train $(RECIPE) $(ARGS)

export: setup  ## llamafactory-cli export (merge) + checks of the merged model
	@$(APP) -m train.export $(RECIPE) $(ARGS)

index: setup  ## build / update the Chroma + BM25 index of the corpus (ARGS=--reset to rebuild)
	@$(APP) -m serve.rag.index $(RECIPE) $(ARGS)

serve: setup  ## start vLLM (+ the RAG gateway when the recipe has rag) and wait until ready
	@$(APP) -m serve start $(RECIPE) $(ARGS)

adapter: setup  ## add or remove a LoRA adapter while serving: ADD=name DIR=folder, or REMOVE=name (no args: list)
	@$(APP) -m serve.adapters $(RECIPE) $(if $(ADD),--add $(ADD) --dir $(DIR)) $(if $(REMOVE),--remove $(REMOVE)) $(ARGS)

stop: setup  ## stop what `make serve` started for RECIPE
	@$(APP) -m serve stop $(RECIPE) $(ARGS)

status: setup  ## list the servers started from any run directory
	@$(APP) -m serve status

parity: setup  ## greedy outputs: HF+peft vs vLLM merged vs vLLM LoRA-mounted
	@$(APP) -m serve.parity $(RECIPE) $(ARGS)

eval: setup  ## base vs SFT vs SFT+RAG over HTTP: metrics, report.md, plots in <run_dir>/eval (resumes)
	@$(APP) -m evaluation $(RECIPE) $(ARGS)

bench: setup  ## serving throughput: make serve vs vLLM by hand vs transformers, clients in two sessions
	@$(APP) -m bench.serving $(RECIPE) $(ARGS)

demo: setup  ## Gradio demo over the served endpoint on demo.host:demo.port (127.0.0.1:7860)
	@$(APP) -m demo $(RECIPE) $(ARGS)

quickstart: setup  ## the whole pipeline, offline, CPU: the tiny default, or RECIPE=recipes/smollm2-135m_cpu_lora.yaml
	@$(APP) -m scripts.quickstart $(RECIPE) $(ARGS)

test: setup  ## the test suite (what CI runs)
	@$(APP) -m pytest -q tests $(PYTEST_ARGS)
