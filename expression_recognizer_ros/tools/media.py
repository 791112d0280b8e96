"""Demo media writers: side-by-side views, contact sheets, GIFs (frames come from synthetic)."""

import cv2
import numpy as np


def side_by_side(left, right, height=240) -> np.ndarray:
    """Two BGR images scaled to one height, left beside right."""
    scaled = [cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height),
                         interpolation=cv2.INTER_AREA)
              for im in (left, right)]
    return np.hstack(scaled)


def pad_to_same_size(images, value=255) -> list[np.ndarray]:
    """
    BGR images centred on canvases of the largest height and width, so photos of mixed sizes and
    aspect ratios can share a grid or an animation.
    """
    h, w = max(im.shape[0] for im in images), max(im.shape[1] for im in images)
    padded = []
    for im in images:
        top, left = (h - im.shape[0]) // 2, (w - im.shape[1]) // 2
        padded.append(cv2.copyMakeBorder(im, top, h - im.shape[0] - top,
                                         left, w - im.shape[1] - left,
                                         cv2.BORDER_CONSTANT, value=(value,) * 3))
    return padded


def contact_sheet(images, columns=3, gap=4) -> np.ndarray:
    """BGR images in a grid, left to right, top to bottom, on white (smaller ones centred)."""
    images = pad_to_same_size(images)
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        y, x = gap + (i // columns) * (h + gap), gap + (i % columns) * (w + gap)
        sheet[y:y + h, x:x + w] = image
    return sheet


def write_gif(images, path, fps=10.0) -> None:
    """An endlessly looping animated GIF of BGR frames of any size (Pillow, from matplotlib)."""
    from PIL import Image
    images = pad_to_same_size(images)
    # 64 colours, no dithering: a tenth of the size, still clear
    frames = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
              .quantize(64, dither=Image.Dither.NONE)
              for im in images]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=0, optimize=True)
