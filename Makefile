# jiujin — the two set-up commands are `make run` and `make test`; both build what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
VENV_PROD := .venv-prod
VENV_RASA := .venv-rasa
PY        := $(VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --no-input --quiet
PIP_VERSION := 24.2
PYTHON311 = $$(scripts/find-python.sh 3.11)
PYTHON310 = $$(scripts/find-python.sh 3.10)

RASA      := $(VENV_RASA)/bin/rasa
MODEL     := models/jiujin.tar.gz
MODEL_INPUTS := config.yml $(wildcard bot/domain/*.yml bot/rules/*.yml bot/stories/*.yml nlu_data/*.yml bot/nlu/*.py) \
                backend/catalog/items.yml
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help system voice-model venv venv-prod venv-rasa env model run run-prod chat test lint unit bench lock clean

help:
	@echo "make run    start the whole stack on embedded defaults (creates what is missing first)"
	@echo "make test   run every test (creates what is missing first)"
	@echo "make run-prod  the production configuration: nginx, 2 Rasa, 2 action servers, 2 backends on PostgreSQL + Redis"
	@echo "make chat   talk to the running bot in the terminal"
	@echo "make bench  print throughput and latency figures"
	@echo "make lock   re-lock requirements/*.lock after changing pyproject.toml"

# --- environments, each from its lock (requirements/, compiled from pyproject.toml by `make lock`) with every hash
# checked, and rebuilt only when its lock (or pyproject.toml, for the project itself) changed. First the locks are
# checked against pyproject.toml: a dependency added there without `make lock` stops the build here.
#   .venv       requirements/dev.lock      everything but Rasa, with the tests' and the benchmarks' tools
#   .venv-prod  requirements/runtime.lock  the same parts without them, for `make run-prod`
#   .venv-rasa  requirements/rasa.lock     the Rasa server, Python 3.10
define python_environment
	@$(PYTHON311) scripts/check_locks.py
	@test -x $(@D)/bin/python || $(1) -m venv $(@D)
	$(@D)/bin/python -m pip install $(PIP_FLAGS) pip==$(PIP_VERSION)
	$(@D)/bin/python -m pip install $(PIP_FLAGS) --require-hashes -r $(2)
endef

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(call python_environment,$(PYTHON311),requirements/dev.lock)
	$(@D)/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

$(VENV_PROD)/.installed: requirements/runtime.lock pyproject.toml
	$(call python_environment,$(PYTHON311),requirements/runtime.lock)
	$(@D)/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

$(VENV_RASA)/.installed: requirements/rasa.lock
	$(call python_environment,$(PYTHON310),requirements/rasa.lock)
	@touch $@

# --- packages from Debian: a CJK font (the printer simulator draws receipts as PNG), espeak-ng (speech: the
# announcements, the voice counter), Chromium (browser tests of the pages), PortAudio (the counter's microphone and
# loudspeaker), ffmpeg (decoding WeChat voice notes), nginx (the load balancer of the production configuration) and
# redis-server (a Redis of their own for the fault tests) --------------------------------------------------------------
SYSTEM_PACKAGES := fonts-wqy-microhei espeak-ng chromium libportaudio2 ffmpeg nginx redis-server
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "please install: apt-get install $$missing" >&2; exit 1; fi; \
	  echo "installing $$missing from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# --- the Chinese speech model of the voice counter (about 42 MB; needs the internet) ----------------------------------
VOICE_MODEL := vosk-model-small-cn-0.22
voice-model:
	@mkdir -p var/voice
	@if [ -d var/voice/$(VOICE_MODEL) ]; then echo "var/voice/$(VOICE_MODEL) is there"; exit 0; fi; \
	if curl -fsSL -o var/voice/$(VOICE_MODEL).zip https://alphacephei.com/vosk/models/$(VOICE_MODEL).zip; then \
	  cd var/voice && python3 -m zipfile -e $(VOICE_MODEL).zip . && rm $(VOICE_MODEL).zip && \
	  echo "installed: set VOSK_MODEL_PATH=$(CURDIR)/var/voice/$(VOICE_MODEL)"; \
	else \
	  rm -f var/voice/$(VOICE_MODEL).zip; \
	  echo "could not download $(VOICE_MODEL). Fetch it from https://alphacephei.com/vosk/models on a machine with" >&2; \
	  echo "internet, unzip it to var/voice/$(VOICE_MODEL) and set VOSK_MODEL_PATH to that folder." >&2; exit 1; \
	fi

venv: $(VENV)/.installed
venv-prod: $(VENV_PROD)/.installed
venv-rasa: $(VENV_RASA)/.installed
env: venv venv-rasa

# --- the dialogue model: trained once, again only when its data, config or the catalog changed -----------
$(MODEL): $(VENV_RASA)/.installed $(MODEL_INPUTS)
	$(VENV_RASA)/bin/python -m bot.nlu.jieba_dictionary bot/jieba
	$(RASA) train --config config.yml --domain bot/domain --data nlu_data bot/stories bot/rules \
	    --out models --fixed-model-name jiujin
	@touch $@

model: $(MODEL)

# --- the two commands -----------------------------------------------------------------------------------
run: system env model
	@umask 077 && set -a && { [ ! -f .env ] || . ./.env; } && set +a && $(PY) -m stack run

# The production configuration on this machine, against the local PostgreSQL and Redis (deploy/); reads .env too.
# It refuses demonstration secrets: `make run-prod ARGS=--demo` tries it out anyway (loudly), and
# `make run-prod ARGS=--generate-secrets` makes the deployment's missing secret files (README, Security).
run-prod: PY := $(VENV_PROD)/bin/python
run-prod: system venv-prod venv-rasa model
	@umask 077 && set -a && { [ ! -f .env ] || . ./.env; } && set +a && $(PY) -m deploy $(ARGS)

chat: venv
	@$(PY) scripts/chat.py

test: system env model lint unit

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: venv
	$(VENV)/bin/pytest

bench: env model
	$(PY) -m bench

# --- maintenance ----------------------------------------------------------------------------------------
# Compiled from pyproject.toml with hashes, each for the interpreter its environment is built from; pins already in a
# lock are kept (`make lock UPGRADE=--upgrade` lifts them). The runtime lock is compiled within the development one's
# pins, so production runs the versions the tests ran.
LOCK = $(VENV)/bin/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(UPGRADE)
lock: venv
	$(LOCK) --python $(PYTHON311) pyproject.toml --group dev -o requirements/dev.lock
	$(LOCK) --python $(PYTHON311) pyproject.toml -c requirements/dev.lock -o requirements/runtime.lock
	$(LOCK) --python $(PYTHON310) --group pyproject.toml:rasa -o requirements/rasa.lock
	@$(PYTHON311) scripts/check_locks.py

# Build output only. Never var/: it holds the SQLite database, uploads, secrets and the follow secret (data).
clean:
	rm -rf $(VENV) $(VENV_PROD) $(VENV_RASA) .pytest_cache .ruff_cache build dist
