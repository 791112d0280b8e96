"""Bounded-time fuzzing of what a frame from the network meets first: message conversion and the
pipeline's entry point. Either an answer or a ValueError that says why; never anything else."""

from types import SimpleNamespace

import cv2
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from expression_recognizer_ros.classifiers.registry import default_model_dir, load_classifier
from expression_recognizer_ros.core.image_codec import (
    compressed_to_array,
    image_to_array,
    SUPPORTED_ENCODINGS,
)
from expression_recognizer_ros.core.pipeline import DETECTORS, ExpressionPipeline, PipelineConfig

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


# the formats image_transport writes, by codec and channels; and ones no data can match
FORMATS = {('.jpg', 1): ('mono8; jpeg compressed mono8', 'yuv422; jpeg compressed mono8', 'jpeg'),
           ('.jpg', 3): ('bgr8; jpeg compressed bgr8', 'rgb8; jpeg compressed bgr8',
                         'rgb8; jpeg compressed rgb8', 'jpeg'),
           ('.png', 1): ('mono8; png compressed ', 'mono16; png compressed ',
                         'bayer_rggb8; png compressed ', 'png'),
           ('.png', 3): ('bgr8; png compressed bgr8', 'rgba8; png compressed bgr8', 'png'),
           ('.png', 4): ('rgba8; png compressed bgra8', 'bgra8; png compressed bgra8', 'png')}
OTHER_FORMATS = ('16UC1; compressedDepth png', '16UC1; compressedDepth', 'h264', '',
                 'bgr8; tiff compressed bgr8', '32FC1; png compressed ')


@st.composite
def compressed_messages(draw):
    """A real JPEG or PNG of random pixels (1, 3 or 4 channels; PNG also 16-bit), as it is or
    damaged (cut short, bytes overwritten, junk appended), or bytes that are no image at all;
    with a format that fits it, or any other."""
    codec = draw(st.sampled_from(['.jpg', '.png']))
    channels = draw(st.sampled_from([1, 3] if codec == '.jpg' else [1, 3, 4]))
    image_format = draw(st.one_of(st.sampled_from(FORMATS[codec, channels]),
                                  st.sampled_from(sum(FORMATS.values(), OTHER_FORMATS)),
                                  st.text(max_size=40)))
    if draw(st.integers(0, 9)) == 0:
        return SimpleNamespace(format=image_format, data=draw(st.binary(max_size=5000)))
    h, w = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    dtype = np.uint16 if codec == '.png' and draw(st.booleans()) else np.uint8
    pixels = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(
        0, np.iinfo(dtype).max, (h, w, channels) if channels > 1 else (h, w)).astype(dtype)
    data = bytearray(cv2.imencode(codec, pixels)[1].tobytes())
    damage = draw(st.sampled_from(['none', 'none', 'cut', 'overwrite', 'append']))
    if damage == 'cut':
        del data[draw(st.integers(0, len(data) - 1)):]
    elif damage == 'overwrite':
        at = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=16))
        data[at:at + len(junk)] = junk
    elif damage == 'append':
        data += draw(st.binary(min_size=1, max_size=64))
    return SimpleNamespace(format=image_format, data=bytes(data))


@FUZZ
@given(msg=compressed_messages())
def test_any_compressed_message_decodes_or_is_refused_with_a_reason(msg):
    try:
        out = compressed_to_array(msg)
    except ValueError as exc:
        assert str(exc)
        return
    assert out.dtype == np.uint8 and out.ndim in (2, 3) and out.size
    assert out.ndim == 2 or out.shape[2] == 3
