# Entry points; the work is in tools/ (see README.md). Every target runs from any directory.
# make test installs what it needs (apt as root, .venv always) and lays the collection out in build/.

TOOLS := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))tools

.PHONY: help test demo demo-lab-start demo-lab-stop demo-lab-status sanity lint units labtests integration core219 build docs venv apt bench lab-start lab-stop lab-status clean distclean

help:
	@echo "make demo         build, install and run the demo against the embedded lab (no root)"
	@echo "make demo-lab-start  start the embedded lab and leave it running (no root); demo-lab-stop, demo-lab-status"
	@echo "make test         all stages: apt (root), venv, build, sanity, units, lab-tests, integration, core219"
	@echo "make sanity       ansible-test sanity, all default tests, whole tree"
	@echo "make lint         ansible-lint, production profile, on roles/ and playbooks/"
	@echo "make units        ansible-test units on the controller Python"
	@echo "make labtests     the lab servers' own pytest suites (lab/*/tests)"
	@echo "make integration  ansible-test integration (real-lab targets need root)"
	@echo "make core219      unit tests, plugin docs, 3.8 import and embedded lab on ansible-core 2.19"
	@echo "make build        build the artifact into build/dist and check its contents"
	@echo "make bench        run bench/bench_*.py"
	@echo "make lab-start    start the real lab (root); lab-stop, lab-status"
	@echo "make clean        remove build/; distclean also removes the venvs"

test:
	$(TOOLS)/test

demo:
	$(TOOLS)/demo

demo-lab-start:
	$(TOOLS)/demo-lab start

demo-lab-stop:
	$(TOOLS)/demo-lab stop

demo-lab-status:
	$(TOOLS)/demo-lab status

sanity:
	$(TOOLS)/run-sanity

lint:
	$(TOOLS)/run-lint

units:
	$(TOOLS)/run-units

labtests:
	$(TOOLS)/run-labtests

integration:
	$(TOOLS)/run-integration

core219:
	$(TOOLS)/run-core219

build:
	$(TOOLS)/build-check

docs:
	$(TOOLS)/layout >/dev/null && PATH="$$($(TOOLS)/venv)/bin:$$PATH" $(TOOLS)/check-docs

venv:
	$(TOOLS)/venv

apt:
	$(TOOLS)/apt-deps

bench:
	$(TOOLS)/bench

lab-start:
	$(TOOLS)/lab start

lab-stop:
	$(TOOLS)/lab stop

lab-status:
	$(TOOLS)/lab status

clean:
	-$(TOOLS)/demo-lab stop >/dev/null 2>&1  # its state lives in build/
	rm -rf $(dir $(TOOLS))build

distclean: clean
	rm -rf $(dir $(TOOLS)).venv $(dir $(TOOLS)).venv-core219
