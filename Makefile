# face_affect_ros developer entry points. Everything lives in $(VENV) (.venv by default,
# git-ignored), created from nothing on first use and reused afterwards; each step reruns only when
# its inputs change.
#   make demo    run the main job on the bundled sample bag
#   make test    lint + every test
#   make bench   every benchmark in bench/
# ROS_DISTRO picks the ROS 2 distribution: jazzy (default: the LTS most robots run) or kilted, each
# in its own venv (.venv-jazzy, .venv) from its own lock: `make test ROS_DISTRO=kilted`.
# PYTHON picks the interpreter (the lock file of that distro and version must exist: Kilted has
# 3.10 to 3.13, Jazzy 3.11), VENV the venv, one per distro and interpreter:
# `make test ROS_DISTRO=kilted PYTHON=python3.12 VENV=.venv-3.12`.
# The ROS environment of tests, demo and benchmarks (RMW, the Fast DDS profile under the variable
# name the installed Fast DDS reads, domain id) is set by face_affect_ros/ros_env.py, not here.

ROS_DISTRO ?= jazzy
PYTHON ?= python3
VENV_jazzy  := .venv-jazzy
VENV_kilted := .venv
VENV   ?= $(VENV_$(ROS_DISTRO))
PY     := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ROS_IN := requirements/ros-$(ROS_DISTRO).in
LOCK   := requirements/constraints-$(ROS_DISTRO)-py$(PYVER).txt

.PHONY: setup test lint demo bench constraints clean venv-python
.DELETE_ON_ERROR:

setup: $(STAMPS)/pkg

# Refuse a venv made by another interpreter or for another distro (it would be clobbered, or tested
# as the wrong one). The venv's distro is recorded in $(VENV)/ros-distro when it is created.
venv-python:
	@test -f $(ROS_IN) || { echo "Unknown ROS_DISTRO '$(ROS_DISTRO)': jazzy or kilted"; exit 1; }
	@test ! -x $(PY) || $(PY) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; \
		sys.exit(v != "$(PYVER)" and f"$(VENV) holds Python {v}, not $(PYVER) ($(PYTHON)): pass VENV=.venv-$(ROS_DISTRO)-$(PYVER)")'
	@test ! -f $(VENV)/ros-distro || test "$$(cat $(VENV)/ros-distro)" = $(ROS_DISTRO) || \
		{ echo "$(VENV) holds ROS 2 $$(cat $(VENV)/ros-distro), not $(ROS_DISTRO): pass VENV=.venv-$(ROS_DISTRO)"; exit 1; }

$(STAMPS)/deps: requirements/dev.in $(ROS_IN) $(wildcard $(LOCK)) scripts/fix_ros_cmake_exports.py | venv-python
	@test -f "$(LOCK)" || { echo "No lock file $(LOCK) for ROS 2 $(ROS_DISTRO) on Python '$(PYVER)': create it with 'make constraints ROS_DISTRO=$(ROS_DISTRO) PYTHON=$(PYTHON) VENV=.venv-$(ROS_DISTRO)-$(PYVER)'"; exit 1; }
	@test -x $(PY) || { $(PYTHON) -m venv $(VENV) && echo $(ROS_DISTRO) > $(VENV)/ros-distro; }
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements/dev.in -r $(ROS_IN) -c $(LOCK)
	$(PY) scripts/fix_ros_cmake_exports.py $(VENV)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/msgs: $(STAMPS)/deps scripts/build_msgs.sh face_affect_msgs/CMakeLists.txt \
		face_affect_msgs/package.xml $(wildcard face_affect_msgs/msg/*.msg) \
		third_party/tf2_msgs/CMakeLists.txt third_party/tf2_msgs/package.xml \
		$(wildcard third_party/tf2_msgs/msg/*.msg third_party/tf2_msgs/srv/*.srv \
		third_party/tf2_msgs/action/*.action) \
		third_party/hri_msgs/CMakeLists.txt third_party/hri_msgs/package.xml \
		$(wildcard third_party/hri_msgs/msg/*.msg)
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

# Write the lock of this distro and interpreter: install dev.in and ros-<distro>.in unconstrained
# (the newest versions that support this Python; what is installed already and still satisfies
# them stays), then pin what is there. A new Python, from a new venv:
# `make constraints ROS_DISTRO=kilted PYTHON=python3.12 VENV=.venv-kilted-3.12`.
constraints: | venv-python
	@test -x $(PY) || { $(PYTHON) -m venv $(VENV) && echo $(ROS_DISTRO) > $(VENV)/ros-distro; }
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements/dev.in -r $(ROS_IN)
	$(PY) scripts/freeze_constraints.py $(LOCK) $(ROS_DISTRO)

clean:
	rm -rf $(VENV) build install log .pytest_cache .ruff_cache
