# annoflow — the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
LS_VENV := .local/ls-venv
# pip on some machines warns about missing local indexes; keep the output readable
PIP = bin/pip install -q --disable-pip-version-check
QUIET_PIP = 2> >(grep -v "is ignored: it is neither" >&2)

.PHONY: venv browser services services-stop services-status demo test test-unit bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "Creating $(VENV) (annoflow, Prefect, pandas, pyarrow, GX, boto3, SeaweedFS, test oracles)…"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/$(PIP) --upgrade pip $(QUIET_PIP)
	$(VENV)/$(PIP) -c constraints.txt -e '.[test]' --config-settings editable_mode=compat $(QUIET_PIP)
	@touch $@

# Label Studio pins packages that conflict with Prefect, so it gets a venv of its own.
$(LS_VENV)/.installed: constraints-label-studio.txt
	@echo "Creating $(LS_VENV) (Label Studio server; takes ~2 minutes the first time)…"
	@mkdir -p .local
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/$(PIP) --upgrade pip $(QUIET_PIP)
	$(LS_VENV)/$(PIP) -c constraints-label-studio.txt label-studio $(QUIET_PIP)
	@touch $@

venv: $(VENV)/.installed $(LS_VENV)/.installed

# Headless Chromium for the browser tests (Playwright drives the system's Chromium; it never
# downloads a browser of its own): Debian's package, installed only when neither name is found.
browser:
	@if ! which chromium >/dev/null 2>&1 && ! which chromium-browser >/dev/null 2>&1; then \
		echo "Installing Chromium (Debian package chromium, for the browser tests)…"; \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	fi

## Start Label Studio (:8080), SeaweedFS S3 (:8333) and Prefect (:4200) on 127.0.0.1; reuses running ones.
services: venv
	@$(VENV)/bin/python scripts/services.py start

services-stop:
	@$(PYTHON) scripts/services.py stop

services-status:
	@$(PYTHON) scripts/services.py status

## The demo campaign end to end, with a simulated expert workforce.
demo: services
	@$(VENV)/bin/annoflow run configs/requests/demo.yaml --simulate configs/simulation/demo.yaml --poll-interval 2

## The whole test suite against the real services.
test: services browser
	$(VENV)/bin/python -m pytest

test-unit: venv
	$(VENV)/bin/python -m pytest tests/unit

clean: services-stop
	rm -rf .local $(VENV)

## Measured figures beside their floors (bench/out/results.json; quoted in BENCHMARKS.md),
## then 50 experts for 5 minutes through the access path beside Label Studio direct (bench/out/access.json),
## then the planted bad actors over 20 offline campaigns (printed; quoted in BENCHMARKS.md).
bench: services
	$(VENV)/bin/python scripts/bench.py
	$(VENV)/bin/python scripts/bench_access.py
	$(VENV)/bin/python scripts/bad_actors.py
