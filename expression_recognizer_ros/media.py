"""The bundled public-domain photos, and 640x480 test frames composed from them."""

import cv2
import numpy as np

from .resources import package_path

PHOTOS = ('astronaut.png', 'grace_hopper_512x512.jpg')


def bundled_photos():
    photos = []
    for name in PHOTOS:
        path = package_path('media', name)
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'bundled photo {path} is missing or unreadable')
        photos.append(image)
    return photos


def compose_frames(count=24, size=(640, 480), seed=0, every_nth_empty=6):
    """Frames with one photo at varied scale and position on a textured background; every
    ``every_nth_empty``-th frame has no face. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    photos = bundled_photos()
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8), (0, 0), 9)
    frames = []
    for i in range(count):
        frame = background.copy()
        if every_nth_empty and i % every_nth_empty == every_nth_empty - 1:
            frames.append(frame)
            continue
        photo = photos[i % len(photos)]
        side = int(rng.integers(height // 2, height - 20))
        photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        x = int(rng.integers(0, width - side + 1))
        y = int(rng.integers(0, height - side + 1))
        frame[y:y + side, x:x + side] = photo
        frames.append(frame)
    return frames
