# Two commands do all set-up: `make run` (train and evaluate with default parameters) and `make test`;
# `make check` is the fast tier of `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NAME ?= default
RUN ?= runs/default
PORT ?= 8866
WORKERS ?= 1
BOOK ?= runs/book
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1
# The slow tier's two pytest-xdist workers share the cores: half each for every thread pool (gan_ad.environment's
# THREAD_VARIABLES); two TensorFlows of two threads each on two cores spin for each other (7 % more CPU in the training tests)
HALF := $(shell n=$$(nproc 2> /dev/null || echo 2); echo $$(( n > 2 ? n / 2 : 1 )))
HALF_THE_CORES := OMP_NUM_THREADS=$(HALF) OPENBLAS_NUM_THREADS=$(HALF) MKL_NUM_THREADS=$(HALF) TF_NUM_INTRAOP_THREADS=$(HALF) TF_NUM_INTEROP_THREADS=$(HALF)

.PHONY: install system run check test app webapp webapp-bench webapp-screenshot figures screenshot reference fashion bench readme book book-screenshot clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,book]"
	touch $@

run: install  ## run the five pipeline notebooks with default parameters into runs/$(NAME)/
	$(PY) -m gan_ad run --name $(NAME)

check: install  ## the fast tier: the package's floors (lint-imports, see pyproject.toml), then the unit tests (no notebook executed, no cluster, no browser), about a minute
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

system:  ## Debian's chromium for the browser tests (a test tool's own browser download fails offline), bubblewrap for grading, node and npm for the web app
	@command -v chromium > /dev/null && command -v bwrap > /dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium bubblewrap > /dev/null; }
	@command -v npm > /dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm > /dev/null; }

webapp/node_modules/.package-lock.json: webapp/package.json webapp/package-lock.json
	cd webapp && npm ci --no-audit --no-fund

webapp: install system webapp/node_modules/.package-lock.json  ## export $(RUN), build the web app into $(RUN)/webapp and serve it on 127.0.0.1
	$(PY) -m gan_ad webapp --run $(RUN)
	@echo "Serving the web app of $(RUN) at http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(RUN)/webapp

webapp-bench: install system webapp/node_modules/.package-lock.json  ## measure the web app of $(RUN) in Chromium: page weight, time to verdict, test AUROC; its picture judging a drawn 7 in $(RUN)/webapp.png
	$(PY) -m gan_ad webapp --run $(RUN)
	$(PY) -m gan_ad webapp-bench --run $(RUN) --screenshot $(RUN)/webapp.png

webapp-screenshot: webapp-bench  ## the README's picture of the web app: make webapp-bench's, of $(RUN)
	cp $(RUN)/webapp.png figures/webapp.png

test: install system webapp/node_modules/.package-lock.json  ## everything: the tiny run beside the fast tier, then on two pytest-xdist workers the slow tests on it (GAN_AD_TINY_RUN) and the notebooks under nbval
	rm -rf runs/nbval runs/nbval.log runs/nbval-fresh && mkdir -p runs
	$(VENV)/bin/lint-imports
	$(PY) -m gan_ad run --name nbval-fresh -f gan_ad/tiny.yaml --prepare-only > /dev/null
	@echo "The tiny run (runs/nbval, its log in runs/nbval.log) beside the fast tier:"
	@$(PY) -m gan_ad run --name nbval -f gan_ad/tiny.yaml > runs/nbval.log 2>&1 & run=$$!; \
		$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests; fast=$$?; \
		wait $$run || { tail -n 30 runs/nbval.log; echo "The tiny run failed (runs/nbval.log)"; exit 1; }; exit $$fast
	$(HALF_THE_CORES) GAN_AD_TINY_RUN=runs/nbval $(PY) -m pytest -q -p no:cacheprovider -m slow -n 2 --dist loadgroup --durations=30 \
		--nbval-lax --nbval-current-env tests runs/nbval-fresh

app: install  ## serve the interactive demo (notebook 06) with Voila, using the model of $(RUN)
	@echo "Serving the demo of $(RUN) at http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	GAN_AD_RUN_DIR=$(abspath $(RUN)) $(VENV)/bin/voila notebooks/06_interactive_demo.ipynb \
		--no-browser --port=$(PORT) --Voila.ip=127.0.0.1

figures: install  ## copy the figures and metrics of runs/$(NAME) into figures/ (the reference run shown in the README)
	cp runs/$(NAME)/figures/*.png runs/$(NAME)/metrics.json figures/
	$(PY) -m gan_ad readme

screenshot: install  ## the README's picture of the demo: the browser test, run on the model of $(RUN)
	GAN_AD_DEMO_RUN=$(RUN) $(PY) -m pytest -q tests/test_browser.py
	cp runs/screenshots/demo.png figures/demo.png

reference: install  ## the README's table: seeds 0-2 of the default run, mean ± std; copied into figures/ (WORKERS=3: at once)
	$(PY) -m gan_ad run --name reference --seeds 3 --workers $(WORKERS)
	cp runs/reference/summary.csv figures/reference_summary.csv
	cp runs/reference/results.csv figures/reference_results.csv
	$(PY) -m gan_ad readme

fashion: install  ## the README's Fashion-MNIST table: seeds 0-2 of the default pipeline on Fashion-MNIST (classes 0-4 normal)
	$(PY) -m gan_ad run --name fashion -p dataset fashion_mnist --seeds 3 --workers $(WORKERS)
	cp runs/fashion/summary.csv figures/fashion_summary.csv
	cp runs/fashion/results.csv figures/fashion_results.csv
	$(PY) -m gan_ad readme

bench: install  ## time every detector of $(RUN) on its test set; copied into figures/ (the README's speed table)
	$(PY) -m gan_ad bench --run $(RUN)
	cp $(RUN)/bench.md $(RUN)/bench.json figures/
	$(PY) -m gan_ad readme

readme: install  ## regenerate the result tables of README.md and docs/*.md from the files in figures/
	$(PY) -m gan_ad readme

book: install  ## the course website: README, docs/ pages and notebooks 01-06 as executed in $(RUN), into $(BOOK)/html
	$(PY) book/build.py --run $(RUN) --out $(BOOK)

book-screenshot: install  ## the README's picture of the website: the book test, run on the book of $(RUN)
	GAN_AD_BOOK_RUN=$(RUN) $(PY) -m pytest -q tests/test_book.py
	cp runs/screenshots/book.png figures/book.png

clean:
	rm -rf $(VENV) runs
