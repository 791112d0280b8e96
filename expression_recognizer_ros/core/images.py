"""
Reading image files: OpenCV, and Pillow for what this OpenCV cannot decode.

OpenCV reads GIF only from 4.11 on; Yale's faces are GIFs, and the OpenCV a ROS machine gets
(4.5.4 on Humble, 4.6.0 on Jazzy and Kilted) returns nothing for them. Pillow (python3-pil, a
declared dependency) decodes those 89 files to the same pixels as OpenCV 4.14.
"""

import io

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.gif', '.pgm')


class ImageReadError(ValueError):
    """A missing or unreadable file, or one no decoder here knows; the message says which."""


def decode_image(data, grayscale=False) -> np.ndarray:
    """
    A file's bytes (bytes or a uint8 array) as a uint8 BGR image, or a grayscale one; raises
    ImageReadError when neither OpenCV nor Pillow decodes them.
    """
    raw = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if not raw.size:
        raise ImageReadError('empty file')
    image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR)
    if image is not None:
        return image
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise ImageReadError(f'OpenCV {cv2.__version__} cannot decode it and Pillow, which '
                             'could, is not installed (apt install python3-pil)') from None
    try:
        with Image.open(io.BytesIO(raw.tobytes())) as opened:
            # the first frame of an animation, turned upright as OpenCV does
            rgb = np.asarray(ImageOps.exif_transpose(opened).convert('RGB'))
    except UnidentifiedImageError:
        raise ImageReadError('not an image OpenCV or Pillow can decode') from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f'a broken image ({exc})') from None
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if grayscale else bgr


def read_image(path, grayscale=False) -> np.ndarray:
    """The image file at ``path`` as ``decode_image`` gives it; ImageReadError names the path."""
    try:
        return decode_image(np.fromfile(path, dtype=np.uint8), grayscale)
    except OSError as exc:
        raise ImageReadError(f'{path}: {exc.strerror or exc}') from None
    except ImageReadError as exc:
        raise ImageReadError(f'{path}: {exc}') from None
