"""The bundled public-domain photos, and 640x480 test frames composed from them."""

import cv2
import numpy as np

from .images import read_image
from .resources import package_path

PHOTOS = ('astronaut.png', 'grace_hopper_512x512.jpg')


def bundled_photos():
    """The photos shipped in media/, loaded as BGR: the faces of the synthetic frames."""
    return [read_image(package_path('media', name)) for name in PHOTOS]


def compose_frames(count=24, size=(640, 480), seed=0, every_nth_empty=6, smallest=0.5, clip=1):
    """
    Frames with one photo at varied scale and position on a textured background; every
    ``every_nth_empty``-th frame has no face. The photo's side is drawn from ``smallest`` times the
    frame height up to the height (the face is about a third of it). With ``clip`` > 1, frames come
    in clips of that length in which the photo drifts a few pixels per frame, as in a camera
    stream, and the empty frames are the last of each clip.
    Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    photos = bundled_photos()
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8),
                                  (0, 0), 9)
    frames = []
    for i in range(count):
        frame = background.copy()
        if i % clip == 0:
            photo = photos[(i // clip) % len(photos)]
            start = int(rng.integers(round(smallest * height), height - 20))
            x0, y0 = rng.integers(0, width - start + 1), rng.integers(0, height - start + 1)
            vx, vy, vs = rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(-2, 2)
        if clip > 1:
            # the person left
            empty = every_nth_empty and i % clip >= clip - clip // every_nth_empty
        else:
            empty = every_nth_empty and i % every_nth_empty == every_nth_empty - 1
        if empty:
            frames.append(frame)
            continue
        j = i % clip
        side = int(np.clip(start + vs * j, 24, height))
        x = int(np.clip(x0 + vx * j, 0, width - side))
        y = int(np.clip(y0 + vy * j, 0, height - side))
        frame[y:y + side, x:x + side] = cv2.resize(photo, (side, side),
                                                   interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames
