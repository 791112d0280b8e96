"""
Camera images as ROS carries them (sensor_msgs/Image fields, CompressedImage data) <-> NumPy,
without ROS, cv_bridge or image_transport (ROS 2's are on no registry here): the nodes get their
messages from rclpy, the ``bag`` command from rosbags, and both decode here.

Works on any object with the message's fields (an rclpy message, a rosbags dataclass). Every
failure is a ValueError that says what was wrong with the message.
"""

import cv2
import numpy as np

# encoding -> (channels, dtype, conversion to BGR or gray; None: already BGR/gray)
_ENCODINGS = {
    'bgr8': (3, np.uint8, None),
    'rgb8': (3, np.uint8, cv2.COLOR_RGB2BGR),
    'mono8': (1, np.uint8, None),
    '8uc1': (1, np.uint8, None),
    'bgra8': (4, np.uint8, cv2.COLOR_BGRA2BGR),
    'rgba8': (4, np.uint8, cv2.COLOR_RGBA2BGR),
    'mono16': (1, np.uint16, None),
    '16uc1': (1, np.uint16, None),
    'yuv422': (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),        # UYVY, as sensor_msgs names it
    'uyvy': (2, np.uint8, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': (2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
    'yuyv': (2, np.uint8, cv2.COLOR_YUV2BGR_YUY2),
    'bayer_rggb8': (1, np.uint8, cv2.COLOR_BayerBG2BGR),     # OpenCV names Bayer by the 2nd row
    'bayer_bggr8': (1, np.uint8, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': (1, np.uint8, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': (1, np.uint8, cv2.COLOR_BayerGB2BGR),
}
SUPPORTED_ENCODINGS = tuple(sorted(_ENCODINGS))
MAX_PIXELS = 7680 * 4320  # 8K; beyond this a frame is refused rather than risking memory
# CompressedImage formats as image_transport_plugins' compressed publisher writes them,
# "<encoding>; <codec> compressed <target>": colour is compressed as bgr8 (bgr16 in PNG), all else
# as one channel (mono8 in JPEG; PNG leaves the target empty), e.g. "rgb8; jpeg compressed bgr8",
# "mono8; jpeg compressed mono8", "rgba8; png compressed bgr8", "mono16; png compressed ". ROS 1's
# oldest publishers wrote the codec alone: "jpeg", "png".
# codec -> (the data's first bytes, its last: JPEG's end-of-image marker, PNG's IEND chunk)
CODECS = {'jpeg': (b'\xff\xd8\xff', b'\xff\xd9'),
          'png': (b'\x89PNG\r\n\x1a\n', b'IEND\xaeB`\x82')}
COLOUR_ENCODINGS = frozenset(f'{order}{bits}' for order in ('bgr', 'rgb', 'bgra', 'rgba')
                             for bits in (8, 16))   # sensor_msgs image_encodings' isColor
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}   # SOF0-SOF15
# Bayer mosaics: compressed as one channel, demosaiced after decoding
_DEMOSAIC = {encoding: conversion for encoding, (channels, _, conversion) in _ENCODINGS.items()
             if channels == 1 and conversion is not None}


def image_to_array(msg) -> np.ndarray:
    """Return a BGR (h, w, 3) or grayscale (h, w) uint8 array for a sensor_msgs/Image."""
    encoding = msg.encoding.lower()
    if encoding not in _ENCODINGS:
        raise ValueError(f'unsupported image encoding {msg.encoding!r}; '
                         f'supported: {", ".join(SUPPORTED_ENCODINGS)}')
    channels, dtype, conversion = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f'empty image ({width}x{height})')
    if height * width > MAX_PIXELS:
        raise ValueError(f'image {width}x{height} exceeds the {MAX_PIXELS}-pixel limit')
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ValueError(f'step {step} is smaller than a {encoding} row of {width} pixels '
                         f'({row_bytes} bytes)')
    buffer = np.frombuffer(msg.data, np.uint8)  # rclpy gives array.array: no copy
    if buffer.size < step * (height - 1) + row_bytes:
        raise ValueError(f'truncated image data: {buffer.size} bytes for {height} rows '
                         f'of step {step}')
    rows = np.lib.stride_tricks.as_strided(buffer, (height, row_bytes), (step, 1))
    pixels = rows.view(dtype if not msg.is_bigendian else np.dtype(dtype).newbyteorder('>'))
    pixels = pixels.reshape((height, width, channels) if channels > 1 else (height, width))
    if dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    if channels == 2 and width % 2:
        raise ValueError(f'{encoding} packs pixel pairs; width {width} is odd')
    try:
        return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    except cv2.error as exc:   # e.g. a Bayer mosaic too small to demosaic
        raise ValueError(f'cannot convert a {width}x{height} {encoding} image: '
                         f'{str(exc).strip()[-120:]}') from None


def _encoding_of(array):
    """bgr8 or mono8 for a BGR or grayscale uint8 array, else a ValueError."""
    if (array.dtype != np.uint8 or array.ndim not in (2, 3)
            or (array.ndim == 3 and array.shape[2] != 3)):
        raise ValueError('expected a BGR or grayscale uint8 image, '
                         f'got {array.dtype} {array.shape}')
    return 'bgr8' if array.ndim == 3 else 'mono8'


def array_to_image_fields(array) -> tuple:
    """(encoding, height, width, step, data) for a BGR or grayscale uint8 array."""
    array = np.ascontiguousarray(array)
    encoding = _encoding_of(array)
    return encoding, array.shape[0], array.shape[1], array.strides[0], array.tobytes()



def _parse_format(text):
    """(declared encoding or None for the bare form, codec, whether the data holds BGR colours)."""
    encoding, separator, rest = text.partition(';')
    words = (rest if separator else text).lower().split()
    if 'compresseddepth' in words:
        raise ValueError(f'compressed format {text!r} is a depth image (compressedDepth): it '
                         'holds distances, not a picture of a face')
    if (not words or words[0] not in CODECS
            or (separator and words[1:2] != ['compressed']) or (not separator and len(words) > 1)):
        raise ValueError(f'unsupported compressed format {text!r}; supported: "<encoding>; '
                         f'{"|".join(CODECS)} compressed <target>" or {" or ".join(CODECS)}')
    if not separator:
        return None, words[0], True
    encoding = encoding.strip().lower()
    if encoding not in _ENCODINGS and encoding not in COLOUR_ENCODINGS:
        raise ValueError(f'unsupported image encoding {encoding!r} in compressed format {text!r}')
    # as image_transport's compressed subscriber: BGR if the target says so, else RGB
    return encoding, words[0], 'compressed bgr' in rest.lower()


def _jpeg_size(data):
    """(width, height) from the JPEG's frame header, before decoding allocates it."""
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f'corrupt JPEG: no marker at byte {i}')
        marker = data[i + 1]
        if marker == 0xFF:      # fill byte
            i += 1
        elif marker in _JPEG_FRAME_MARKERS:
            size = data[i + 5:i + 9]    # height, width
            return int.from_bytes(size[2:], 'big'), int.from_bytes(size[:2], 'big')
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')
    raise ValueError(f'corrupt or truncated JPEG: no frame header in {len(data)} bytes')


def _png_size(data):
    """(width, height) from the PNG's IHDR chunk, before decoding allocates it."""
    if data[12:16] != b'IHDR' or len(data) < 24:
        raise ValueError(f'corrupt or truncated PNG: no IHDR header in {len(data)} bytes')
    return int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')


def compressed_to_array(msg) -> np.ndarray:
    """
    A BGR (h, w, 3) or grayscale (h, w) uint8 array for a sensor_msgs/CompressedImage, read as
    image_transport's compressed subscriber reads it. Refused: depth (compressedDepth), other
    codecs, data that is not what the format names (codec, colour or not), data cut short (no end
    marker) or corrupt, and frames beyond MAX_PIXELS (checked in the header, before decoding).
    """
    encoding, codec, bgr = _parse_format(msg.format)
    data = bytes(msg.data)
    first, last = CODECS[codec]
    if not data.startswith(first):
        actual = next((name for name, (magic, _) in CODECS.items() if data.startswith(magic)),
                      None)
        raise ValueError(f'format {msg.format!r} says {codec}, but the {len(data)} bytes are '
                         + (actual or f'not {codec} (they start {data[:4].hex()})'))
    width, height = (_jpeg_size if codec == 'jpeg' else _png_size)(data)
    if height <= 0 or width <= 0:
        raise ValueError(f'empty image ({width}x{height})')
    if height * width > MAX_PIXELS:
        raise ValueError(f'image {width}x{height} exceeds the {MAX_PIXELS}-pixel limit')
    if not data.rstrip(b'\0').endswith(last):   # checked before the decoder, which warns on stderr
        raise ValueError(f'truncated {codec.upper()}: no end marker after {len(data)} bytes')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'corrupt {codec} data: OpenCV cannot decode its {len(data)} bytes')
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if encoding is not None and (channels == 1) != (encoding not in COLOUR_ENCODINGS):
        raise ValueError(f'format {msg.format!r} promises '
                         f'{"colour" if encoding in COLOUR_ENCODINGS else "one channel"}, but the '
                         f'{codec} data holds {channels} channel(s)')
    if channels == 1:
        conversion = _DEMOSAIC.get(encoding)
    elif channels in (3, 4):
        conversion = ({3: None, 4: cv2.COLOR_BGRA2BGR} if bgr
                      else {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGR})[channels]
    else:
        raise ValueError(f'{codec} data with {channels} channels; expected 1, 3 or 4')
    if conversion is None:
        return image
    try:
        return cv2.cvtColor(image, conversion)
    except cv2.error as exc:   # e.g. a Bayer mosaic too small to demosaic
        raise ValueError(f'cannot convert a {width}x{height} {encoding} image: '
                         f'{str(exc).strip()[-120:]}') from None


def array_to_compressed_fields(array, quality) -> tuple[str, bytes]:
    """
    (format, data): a BGR or grayscale uint8 array as JPEG of this quality (1-100), formatted as
    image_transport's compressed publisher does.
    """
    encoding = _encoding_of(array)
    ok, data = cv2.imencode('.jpg', array, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f'OpenCV cannot encode a {array.shape} array as JPEG')
    return f'{encoding}; jpeg compressed {encoding}', data.tobytes()
