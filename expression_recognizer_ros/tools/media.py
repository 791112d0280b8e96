"""Demo media writers: side-by-side views, contact sheets and GIFs (frames come from core.frames)."""

import cv2
import numpy as np


def side_by_side(left, right, height=240):
    """Two BGR images scaled to one height, left beside right."""
    scaled = [cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height), interpolation=cv2.INTER_AREA)
              for im in (left, right)]
    return np.hstack(scaled)


def contact_sheet(images, columns=3, gap=4):
    """Same-size BGR images in a grid, left to right, top to bottom, on white."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        y, x = gap + (i // columns) * (h + gap), gap + (i % columns) * (w + gap)
        sheet[y:y + h, x:x + w] = image
    return sheet


def write_gif(images, path, fps=10.0):
    """An endlessly looping animated GIF of BGR frames (Pillow, which matplotlib already brings)."""
    from PIL import Image
    frames = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)).quantize(64, dither=Image.Dither.NONE)
              for im in images]   # 64 colours, no dithering: a tenth of the size, still clear
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0,
                   optimize=True)
