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


def compose_frames(count=24, size=(640, 480), seed=0, every_nth_empty=6, smallest=0.5, clip=1):
    """Frames with one photo at varied scale and position on a textured background; every
    ``every_nth_empty``-th frame has no face. The photo's side is drawn from ``smallest`` times the
    frame height up to the height (the face is about a third of it). With ``clip`` > 1, frames come in
    clips of that length in which the photo drifts a few pixels per frame, as in a camera stream, and
    the empty frames are the last of each clip.
    Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    width, height = size
    photos = bundled_photos()
    background = cv2.GaussianBlur(rng.integers(60, 200, (height, width, 3), dtype=np.uint8), (0, 0), 9)
    frames = []
    for i in range(count):
        frame = background.copy()
        if i % clip == 0:
            photo = photos[(i // clip) % len(photos)]
            start = int(rng.integers(round(smallest * height), height - 20))
            x0, y0 = rng.integers(0, width - start + 1), rng.integers(0, height - start + 1)
            vx, vy, vs = rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(-2, 2)
        if clip > 1:
            empty = every_nth_empty and i % clip >= clip - clip // every_nth_empty  # the person left
        else:
            empty = every_nth_empty and i % every_nth_empty == every_nth_empty - 1
        if empty:
            frames.append(frame)
            continue
        j = i % clip
        side = int(np.clip(start + vs * j, 24, height))
        x = int(np.clip(x0 + vx * j, 0, width - side))
        y = int(np.clip(y0 + vy * j, 0, height - side))
        frame[y:y + side, x:x + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames


def side_by_side(left, right, height=240):
    """Two BGR images scaled to one height, left beside right."""
    scaled = [cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height), interpolation=cv2.INTER_AREA)
              for im in (left, right)]
    return np.hstack(scaled)


def pad_to_same_size(images, value=255):
    """BGR images centred on canvases of the largest height and width, so photos of mixed sizes and
    aspect ratios can share a grid or an animation."""
    h, w = max(im.shape[0] for im in images), max(im.shape[1] for im in images)
    padded = []
    for im in images:
        top, left = (h - im.shape[0]) // 2, (w - im.shape[1]) // 2
        padded.append(cv2.copyMakeBorder(im, top, h - im.shape[0] - top, left, w - im.shape[1] - left,
                                         cv2.BORDER_CONSTANT, value=(value,) * 3))
    return padded


def contact_sheet(images, columns=3, gap=4):
    """BGR images in a grid, left to right, top to bottom, on white (smaller ones centred in their cell)."""
    images = pad_to_same_size(images)
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        y, x = gap + (i // columns) * (h + gap), gap + (i % columns) * (w + gap)
        sheet[y:y + h, x:x + w] = image
    return sheet


def write_gif(images, path, fps=10.0):
    """An endlessly looping animated GIF of BGR frames of any sizes (Pillow, which matplotlib brings)."""
    from PIL import Image
    images = pad_to_same_size(images)
    frames = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)).quantize(64, dither=Image.Dither.NONE)
              for im in images]   # 64 colours, no dithering: a tenth of the size, still clear
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0,
                   optimize=True)
