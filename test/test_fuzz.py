"""Bounded-time fuzzing of what a frame from the network meets first: message conversion and the
pipeline's entry point. Either an answer or a ValueError that says why; never anything else."""

from types import SimpleNamespace

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from expression_recognizer_ros.classifiers.registry import default_model_dir, load_classifier
from expression_recognizer_ros.core.pipeline import DETECTORS, ExpressionPipeline, PipelineConfig
from expression_recognizer_ros.ros.image_conversion import image_to_array, SUPPORTED_ENCODINGS

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope='module', params=DETECTORS)
def recognizer(request):
    return ExpressionPipeline(load_classifier(default_model_dir()),
                              PipelineConfig(detector=request.param))


messages = st.builds(
    SimpleNamespace,
    encoding=st.one_of(st.sampled_from(SUPPORTED_ENCODINGS + ('32FC1', '', 'BGR8', 'jpeg')),
                       st.text(max_size=12)),
    height=st.integers(-2, 70), width=st.integers(-2, 70), step=st.integers(-1, 300),
    is_bigendian=st.integers(0, 1), data=st.binary(max_size=20000))


@FUZZ
@given(msg=messages)
def test_any_message_converts_or_is_refused_with_a_reason(msg):
    try:
        out = image_to_array(msg)
    except ValueError as exc:
        assert str(exc)
        return
    assert out.dtype == np.uint8 and out.shape[:2] == (msg.height, msg.width)
    assert out.ndim == 2 or out.shape[2] == 3


arrays = st.tuples(st.integers(1, 160), st.integers(1, 160), st.sampled_from([None, 1, 3, 4, 2]),
                   st.sampled_from([np.uint8, np.uint8, np.float32, np.uint16]),
                   st.integers(0, 2 ** 32 - 1))


@FUZZ
@given(spec=arrays)
def test_any_array_is_recognized_or_refused_with_a_reason(recognizer, spec):
    h, w, channels, dtype, seed = spec
    shape = (h, w) if channels is None else (h, w, channels)
    image = np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)
    try:
        result = recognizer.process(image)
    except ValueError as exc:
        assert str(exc) and (dtype != np.uint8 or channels == 2)
        return
    assert result.num_faces == len(result.faces)
    assert (result.attended is None) == (not result.faces)
    if result.detection is not None:   # haar_fallback: the original's outcomes
        assert result.detection.outcome in ('face', 'no_face', 'several_faces')
        assert bool(result.faces) == result.detection.found
