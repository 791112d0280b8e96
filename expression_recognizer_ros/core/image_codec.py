"""
Camera images as ROS carries them (sensor_msgs/Image fields, sensor_msgs/CompressedImage data)
<-> NumPy, without ROS: the nodes get their messages from rclpy, the ``bag`` command from rosbags,
and both decode here.

Works on any object with the message's fields (an rclpy message, a rosbags dataclass, a
SimpleNamespace). Every failure is a ValueError that says what was wrong with the message.
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
    buffer = np.frombuffer(msg.data, np.uint8)  # rclpy's array.array, rosbags' ndarray: no copy
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


def compressed_to_array(msg) -> np.ndarray:
    """
    Return the BGR uint8 array of a sensor_msgs/CompressedImage (JPEG, PNG or any format
    OpenCV reads; image_transport's ``format`` such as ``bgr8; jpeg compressed bgr8`` names the
    codec, the bytes say it too). Depth images (``compressedDepth``) are refused: no camera
    picture.
    """
    fmt = str(msg.format)
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ValueError(f'compressed depth image ({fmt!r}) is no camera picture')
    data = np.frombuffer(msg.data, np.uint8)
    if not data.size:
        raise ValueError(f'empty compressed image (format {fmt!r})')
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:   # e.g. a header announcing more pixels than OpenCV allows
        raise ValueError(f'cannot decode a {data.size}-byte {fmt or "compressed"} image: '
                         f'{str(exc).strip()[-120:]}') from None
    if image is None:
        raise ValueError(f'cannot decode a {data.size}-byte {fmt or "compressed"} image '
                         '(corrupt, or a format OpenCV does not read)')
    return image


def array_to_image_fields(array) -> tuple:
    """(encoding, height, width, step, data) for a BGR or grayscale uint8 array."""
    array = np.ascontiguousarray(array)
    if (array.dtype != np.uint8 or array.ndim not in (2, 3)
            or (array.ndim == 3 and array.shape[2] != 3)):
        raise ValueError('expected a BGR or grayscale uint8 image, '
                         f'got {array.dtype} {array.shape}')
    encoding = 'bgr8' if array.ndim == 3 else 'mono8'
    return encoding, array.shape[0], array.shape[1], array.strides[0], array.tobytes()
