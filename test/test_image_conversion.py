import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.image_codec import (
    array_to_compressed_fields,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
)


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
    if not hasattr(cv2, code):   # the encoder the test packs with came in OpenCV 4.7
        pytest.skip(f'OpenCV {cv2.__version__} has no {code} to pack the test image')
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


# CompressedImage: the formats image_transport_plugins' compressed publisher writes, and older


def png(array):
    return cv2.imencode('.png', array)[1].tobytes()


def jpeg(array, quality=95):
    return cv2.imencode('.jpg', array, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def compressed(image_format, data):
    return SimpleNamespace(format=image_format, data=data)


def bayer_rggb(bgr):
    mosaic = np.zeros(bgr.shape[:2], np.uint8)
    for (dy, dx), channel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), BAYER['bayer_rggb8']):
        mosaic[dy::2, dx::2] = bgr[dy::2, dx::2, channel]
    return mosaic


# format -> (the data as that publisher compresses the BGR picture, lossless)
COMPRESSED = {
    'bgr8; jpeg compressed bgr8': (jpeg, False),
    'rgb8; jpeg compressed bgr8': (jpeg, False),      # colour is compressed as bgr8
    'rgb8; jpeg compressed rgb8': (lambda im: jpeg(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)), False),
    'bgr8; png compressed bgr8': (png, True),
    'rgba8; png compressed bgr8': (png, True),
    'rgba8; png compressed bgra8': (lambda im: png(cv2.cvtColor(im, cv2.COLOR_BGR2BGRA)), True),
    'bgr16; png compressed bgr16': (lambda im: png(im.astype(np.uint16) << 8), True),
    'jpeg': (jpeg, False),                            # ROS 1's oldest: the codec alone
    'png': (png, True),
}
GRAY = {
    'mono8; jpeg compressed mono8': (jpeg, False),
    'mono8; png compressed ': (png, True),            # PNG leaves a mono target empty
    'mono16; png compressed ': (lambda im: png(im.astype(np.uint16) << 8), True),
    '16UC1; png compressed ': (lambda im: png(im.astype(np.uint16) << 8), True),
    'png': (png, True),
}


@pytest.mark.parametrize('image_format', list(COMPRESSED))
def test_compressed_colour_formats_decode_to_bgr(bgr, image_format):
    encode, lossless = COMPRESSED[image_format]
    out = compressed_to_array(compressed(image_format, encode(bgr)))
    assert out.shape == bgr.shape and out.dtype == np.uint8
    error = np.abs(out.astype(int) - bgr.astype(int)).mean()
    assert error == 0 if lossless else error < 8, error
    # the same data with the colours swapped would be far off: the order was honoured
    assert np.abs(out[..., ::-1].astype(int) - bgr.astype(int)).mean() > 10


@pytest.mark.parametrize('image_format', list(GRAY))
def test_compressed_gray_formats_decode_to_gray(bgr, image_format):
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    encode, lossless = GRAY[image_format]
    out = compressed_to_array(compressed(image_format, encode(gray)))
    assert out.shape == gray.shape and out.dtype == np.uint8
    error = np.abs(out.astype(int) - gray.astype(int)).mean()
    assert error == 0 if lossless else error < 8, error


def test_compressed_bayer_mosaic_is_demosaiced(bgr):
    out = compressed_to_array(compressed('bayer_rggb8; png compressed ', png(bayer_rggb(bgr))))
    assert out.shape == bgr.shape and np.abs(out.astype(int) - bgr.astype(int)).mean() < 25


def test_compressed_data_may_be_rclpy_array(bgr):
    """rclpy hands uint8[] over as array.array."""
    import array
    data = array.array('B', jpeg(bgr))
    assert compressed_to_array(compressed('bgr8; jpeg compressed bgr8', data)).shape == bgr.shape


def test_our_compressed_fields_are_image_transports_and_decode(bgr):
    image_format, data = array_to_compressed_fields(bgr, 95)
    assert image_format == 'bgr8; jpeg compressed bgr8' and data[:3] == b'\xff\xd8\xff'
    assert np.abs(compressed_to_array(compressed(image_format, data)).astype(int)
                  - bgr.astype(int)).mean() < 8
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    image_format, data = array_to_compressed_fields(gray, 80)
    assert image_format == 'mono8; jpeg compressed mono8'
    assert compressed_to_array(compressed(image_format, data)).shape == gray.shape
    with pytest.raises(ValueError, match='expected a BGR or grayscale uint8 image'):
        array_to_compressed_fields(bgr.astype(np.float32), 95)


def huge_jpeg(bgr):
    """A real JPEG whose frame header claims 60000x60000 pixels."""
    data = bytearray(jpeg(bgr))
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = (60000).to_bytes(2, 'big') * 2
    return bytes(data)


BAD_COMPRESSED = {
    'truncated JPEG': (lambda im: ('bgr8; jpeg compressed bgr8', jpeg(im)[:len(jpeg(im)) // 2]),
                       'truncated JPEG'),
    'JPEG header only': (lambda im: ('bgr8; jpeg compressed bgr8', jpeg(im)[:300]),
                         'truncated JPEG'),
    'truncated PNG': (lambda im: ('bgr8; png compressed bgr8', png(im)[:len(png(im)) // 2]),
                      'truncated PNG'),
    'corrupt PNG': (lambda im: ('bgr8; png compressed bgr8',
                                png(im)[:60] + bytes(200) + png(im)[-12:]), 'corrupt png data'),
    'random bytes': (lambda im: ('bgr8; jpeg compressed bgr8',
                                 np.random.default_rng(0).bytes(5000)), 'not jpeg'),
    'empty data': (lambda im: ('jpeg', b''), 'not jpeg'),
    'JPEG called PNG': (lambda im: ('bgr8; png compressed bgr8', jpeg(im)), 'bytes are jpeg'),
    'colour called mono8': (lambda im: ('mono8; jpeg compressed mono8', jpeg(im)),
                            'promises one channel, but the jpeg data holds 3'),
    'gray called bgr8': (lambda im: ('bgr8; jpeg compressed bgr8',
                                     jpeg(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY))),
                         'promises colour, but the jpeg data holds 1'),
    '16-bit depth': (lambda im: ('16UC1; compressedDepth png',
                                 png(np.full((48, 64), 1200, np.uint16))), 'compressedDepth'),
    'old depth format': (lambda im: ('16UC1; compressedDepth', b'\0' * 12), 'compressedDepth'),
    'TIFF': (lambda im: ('bgr8; tiff compressed bgr8', cv2.imencode('.tiff', im)[1].tobytes()),
             'unsupported compressed format'),
    'unknown format': (lambda im: ('h264', jpeg(im)), 'unsupported compressed format'),
    'unknown encoding': (lambda im: ('32FC1; png compressed ', png(im)),
                         "unsupported image encoding '32fc1'"),
    'huge frame header': (lambda im: ('bgr8; jpeg compressed bgr8', huge_jpeg(im)), 'exceeds'),
}


@pytest.mark.parametrize('case', list(BAD_COMPRESSED))
def test_bad_compressed_images_are_refused_with_a_reason(bgr, case):
    make, text = BAD_COMPRESSED[case]
    image_format, data = make(bgr)
    with pytest.raises(ValueError, match=text):
        compressed_to_array(compressed(image_format, data))


def test_compressed_frame_figures(photos):
    """
    Bytes per 640x480 frame raw and as JPEG, encode and decode time (printed, never asserted),
    and what the JPEG keeps: YuNet finds Grace Hopper's face in the same place (its box moved up
    to 6 px of 200 at quality 95: IoU, not pixels).
    """
    from expression_recognizer_ros.core.boxes import iou
    from expression_recognizer_ros.core.resources import package_path
    from expression_recognizer_ros.core.yunet_detection import YuNetConfig, YuNetDetector
    frame = np.full((480, 640, 3), 127, np.uint8)
    frame[:, 80:560] = cv2.resize(photos['grace_hopper_512x512.jpg'], (480, 480))
    detector = YuNetDetector(package_path('models', 'yunet'), YuNetConfig())
    raw_box = detector.detect(frame)[0].box
    print(f'\n640x480 bgr8 frame: raw {frame.nbytes} bytes')
    for quality in (95, 80):
        start = time.perf_counter()
        for _ in range(20):
            image_format, data = array_to_compressed_fields(frame, quality)
        encode_ms = (time.perf_counter() - start) / 20 * 1e3
        start = time.perf_counter()
        for _ in range(20):
            out = compressed_to_array(compressed(image_format, data))
        decode_ms = (time.perf_counter() - start) / 20 * 1e3
        psnr = cv2.PSNR(out, frame)
        print(f'JPEG quality {quality}: {len(data)} bytes ({frame.nbytes / len(data):.1f}x '
              f'smaller), encode {encode_ms:.2f} ms, decode {decode_ms:.2f} ms, '
              f'PSNR {psnr:.1f} dB')
        assert len(data) < frame.nbytes / 5 and psnr > 30
        faces = detector.detect(out)
        assert len(faces) == 1 and iou(faces[0].box, raw_box) > 0.9, (faces, raw_box)
