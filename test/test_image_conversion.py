from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from expression_recognizer_ros.ros.image_conversion import array_to_image_fields, image_to_array


def message(array, encoding, step=None, data=None):
    h, w = array.shape[:2]
    step = step or array.strides[0]
    return SimpleNamespace(encoding=encoding, height=h, width=w, step=step, is_bigendian=0,
                           data=data if data is not None else array.tobytes())


@pytest.fixture(scope='module')
def bgr(photos):
    return cv2.resize(photos['astronaut.png'], (64, 48))


def test_bgr8_round_trip(bgr):
    encoding, h, w, step, data = array_to_image_fields(bgr)
    msg = SimpleNamespace(encoding=encoding, height=h, width=w, step=step, is_bigendian=0,
                          data=data)
    np.testing.assert_array_equal(image_to_array(msg), bgr)


@pytest.mark.parametrize('encoding, convert', [
    ('rgb8', lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2RGB)),
    ('bgra8', lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)),
    ('rgba8', lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2RGBA)),
])
def test_colour_encodings(bgr, encoding, convert):
    np.testing.assert_array_equal(image_to_array(message(convert(bgr), encoding)), bgr)


def test_mono8_and_mono16(bgr):
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(image_to_array(message(gray, 'mono8')), gray)
    np.testing.assert_array_equal(image_to_array(message(gray.astype(np.uint16) << 8, 'mono16')),
                                  gray)


def test_padded_rows(bgr):
    padded = np.zeros((bgr.shape[0], bgr.shape[1] * 3 + 8), np.uint8)
    padded[:, :bgr.shape[1] * 3] = bgr.reshape(bgr.shape[0], -1)
    out = image_to_array(SimpleNamespace(encoding='bgr8', height=bgr.shape[0], width=bgr.shape[1],
                                         step=padded.shape[1], is_bigendian=0,
                                         data=padded.tobytes()))
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize('encoding, code', [('yuv422', 'COLOR_BGR2YUV_UYVY'),
                                            ('uyvy', 'COLOR_BGR2YUV_UYVY'),
                                            ('yuv422_yuy2', 'COLOR_BGR2YUV_YUYV'),
                                            ('yuyv', 'COLOR_BGR2YUV_YUYV')])
def test_yuv422_variants_decode_to_the_right_picture(bgr, encoding, code):
    packed = cv2.cvtColor(bgr, getattr(cv2, code))
    out = image_to_array(message(packed, encoding))
    assert np.abs(out.astype(int) - bgr.astype(int)).mean() < 8


# channel (B=0, G=1, R=2) at the 2x2 cell positions (0,0), (0,1), (1,0), (1,1)
BAYER = {'bayer_rggb8': (2, 1, 1, 0), 'bayer_bggr8': (0, 1, 1, 2), 'bayer_gbrg8': (1, 0, 2, 1),
         'bayer_grbg8': (1, 2, 0, 1)}


@pytest.mark.parametrize('encoding', list(BAYER))
def test_bayer_patterns_decode_to_the_right_picture(bgr, encoding):
    mosaic = np.zeros(bgr.shape[:2], np.uint8)
    for (dy, dx), channel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), BAYER[encoding]):
        mosaic[dy::2, dx::2] = bgr[dy::2, dx::2, channel]
    out = image_to_array(message(mosaic, encoding))
    assert np.abs(out.astype(int) - bgr.astype(int)).mean() < 25
    swapped = image_to_array(
        message(mosaic, 'bayer_bggr8' if encoding == 'bayer_rggb8' else 'bayer_rggb8'))
    error = np.abs(out.astype(int) - bgr.astype(int)).mean()
    assert np.abs(swapped.astype(int) - bgr.astype(int)).mean() > error + 5


@pytest.mark.parametrize('change, text', [
    (dict(encoding='32FC1'), 'unsupported image encoding'),
    (dict(height=0), 'empty image'),
    (dict(step=10), 'step 10 is smaller'),
    (dict(data=b'\x00' * 100), 'truncated'),
    (dict(height=4320 * 2, width=7680), 'exceeds'),
])
def test_bad_messages_are_refused_with_a_reason(bgr, change, text):
    msg = message(bgr, 'bgr8')
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ValueError, match=text):
        image_to_array(msg)


@pytest.mark.parametrize('encoding, width', [('uyvy', 1), ('yuv422_yuy2', 3)])
def test_odd_width_yuv422_is_refused_with_a_reason(encoding, width):
    with pytest.raises(ValueError, match='odd'):
        image_to_array(SimpleNamespace(encoding=encoding, height=1, width=width, step=2 * width,
                                       is_bigendian=0, data=b'\0' * 2 * width))
