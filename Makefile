# face_affect_ros developer entry points. Everything lives in $(VENV) (.venv by default,
# git-ignored), created from nothing on first use and reused afterwards; each step reruns only when
# its inputs change.
#   make demo    run the main job on the bundled sample bag
#   make test    lint + every test
#   make bench   every benchmark in bench/
# PYTHON picks the interpreter (3.10 to 3.13; the lock file of that version must exist), VENV the
# venv, one per interpreter: `make test PYTHON=python3.12 VENV=.venv-3.12`.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
LOCK   := requirements/constraints-py$(PYVER).txt
# The environment every test, demo and benchmark runs in (see face_affect_ros/test/conftest.py).
export RMW_IMPLEMENTATION := rmw_fastrtps_cpp
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/face_affect_ros/config/fastdds_large_shm.xml

.PHONY: setup test lint demo bench constraints clean venv-python
.DELETE_ON_ERROR:

setup: $(STAMPS)/pkg

# Refuse a venv made by another interpreter (it would be clobbered, or tested as the wrong Python).
venv-python:
	@test ! -x $(PY) || $(PY) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; \
		sys.exit(v != "$(PYVER)" and f"$(VENV) holds Python {v}, not $(PYVER) ($(PYTHON)): pass VENV=.venv-$(PYVER)")'

$(STAMPS)/deps: requirements/dev.in $(wildcard $(LOCK)) scripts/fix_ros_cmake_exports.py | venv-python
	@test -f "$(LOCK)" || { echo "No lock file $(LOCK) for Python '$(PYVER)': create it with 'make constraints PYTHON=$(PYTHON) VENV=.venv-$(PYVER)'"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements/dev.in -c $(LOCK)
	$(PY) scripts/fix_ros_cmake_exports.py $(VENV)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/msgs: $(STAMPS)/deps scripts/build_msgs.sh face_affect_msgs/CMakeLists.txt \
		face_affect_msgs/package.xml $(wildcard face_affect_msgs/msg/*.msg)
	scripts/build_msgs.sh $(VENV)
	@touch $@

$(STAMPS)/pkg: $(STAMPS)/msgs face_affect_ros/setup.py face_affect_ros/setup.cfg
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e face_affect_ros
	@touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest face_affect_ros/test

demo: setup
	$(VENV)/bin/face-affect-demo

bench: setup
	$(PY) bench/run_all.py

# Write the lock of this interpreter: install dev.in unconstrained (the newest versions that
# support this Python; what is installed already and still satisfies dev.in stays), then pin what
# is there. A new Python, from a new venv: `make constraints PYTHON=python3.12 VENV=.venv-3.12`.
constraints: | venv-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements/dev.in
	$(PY) scripts/freeze_constraints.py $(LOCK)

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache
