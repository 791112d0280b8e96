#!/usr/bin/env python3
"""
What JPEG (transport compressed) costs and changes, figures printed:

- bytes per 640x480 frame raw and as JPEG, and encode and decode time (one OpenCV thread, median
  and best of 35), on the 35 real people photos (../shared/photos/real/people) each scaled into a
  640x480 frame;
- the default pipeline's decisions on frames sent raw and through JPEG: Yale end to end (59 faces
  with a label the models know) and the 43 real photos; the same decision (face and label) and Yale
  accuracy, for the default model and --model.

Run from an environment where the package is installed (make build), with ../shared beside the
repository: python -P scripts/measure_compressed.py [--model cnn2-fer2013]. Timings depend on the
machine's load: compare within one run.
"""

import argparse
import glob
import os
import statistics
import time
from types import SimpleNamespace

import cv2
import numpy as np

from expression_recognizer_ros.classifiers.registry import load_classifier, resolve_model_dir
from expression_recognizer_ros.core.image_codec import (
    array_to_compressed_fields,
    compressed_to_array,
)
from expression_recognizer_ros.core.pipeline import ExpressionPipeline, PipelineConfig
from expression_recognizer_ros.core.tracking import STILL_IMAGE_TRACKING

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))
YALE_LABELS = {'happy': 'happy', 'neutral': 'neutral', 'sad': 'sad', 'surprise': 'surprised'}
QUALITIES = (95, 80, 60)


def through_jpeg(image, quality):
    """The image as the recognizer sees it after JPEG at this quality, and the JPEG's bytes."""
    image_format, data = array_to_compressed_fields(image, quality)
    return compressed_to_array(SimpleNamespace(format=image_format, data=data)), len(data)


def in_frame(photo):
    """The photo scaled to 480 high, centred in a grey 640x480 frame."""
    frame = np.full((480, 640, 3), 127, np.uint8)
    width = min(640, round(photo.shape[1] * 480 / photo.shape[0]))
    left = (640 - width) // 2
    frame[:, left:left + width] = cv2.resize(photo, (width, 480))
    return frame


def sizes_and_times(frames):
    """Print bytes per frame and encode/decode time at each quality."""
    raw = frames[0].nbytes
    print(f'640x480 bgr8, {len(frames)} frames: raw {raw} bytes')
    for quality in QUALITIES:
        encode, decode, sizes = [], [], []
        for frame in frames:
            start = time.perf_counter()
            image_format, data = array_to_compressed_fields(frame, quality)
            encode.append(time.perf_counter() - start)
            start = time.perf_counter()
            compressed_to_array(SimpleNamespace(format=image_format, data=data))
            decode.append(time.perf_counter() - start)
            sizes.append(len(data))
        size = statistics.median(sizes)
        print(f'  JPEG {quality}: median {size:.0f} bytes ({raw / size:.1f}x smaller); ms median '
              f'/ best: encode {statistics.median(encode) * 1e3:.2f} / {min(encode) * 1e3:.2f}, '
              f'decode {statistics.median(decode) * 1e3:.2f} / {min(decode) * 1e3:.2f}')


def decisions(model, name, items):
    """Print how many decisions JPEG changes; items: (label or None, image)."""
    pipeline = ExpressionPipeline(load_classifier(resolve_model_dir(model)),
                                  PipelineConfig(tracking=STILL_IMAGE_TRACKING))

    def decide(image):
        pipeline.reset()
        face = pipeline.process(image, 0.0).attended
        return None if face is None else face.label
    raw = [decide(image) for _, image in items]
    labelled = [label for label, _ in items if label]

    def accuracy(answers):
        if not labelled:
            return ''
        right = sum(answer == label for answer, (label, _) in zip(answers, items) if label)
        return f', accuracy {right / len(labelled):.1%}'
    print(f'{name}, {model or "default model"}: raw: {sum(a is not None for a in raw)} of '
          f'{len(items)} with a face{accuracy(raw)}')
    for quality in QUALITIES:
        jpeg = [decide(through_jpeg(image, quality)[0]) for _, image in items]
        same = sum(a == b for a, b in zip(raw, jpeg))
        print(f'  JPEG {quality}: same decision {same} of {len(items)}{accuracy(jpeg)}')


def main():
    """Sizes and times on the real people photos, then decisions on Yale and the real photos."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='', help='shipped model name or directory')
    args = parser.parse_args()
    cv2.setNumThreads(1)    # as the node's one worker thread would use it, and steadier
    people = [cv2.imread(p) for p in sorted(glob.glob(
        os.path.join(SHARED, 'photos', 'real', 'people', '*', '*.png')))]
    sizes_and_times([in_frame(photo) for photo in people])
    yale = []
    for path in sorted(glob.glob(os.path.join(SHARED, 'datasets', 'yale', '*', '*.gif'))):
        label = YALE_LABELS.get(os.path.basename(os.path.dirname(path)))
        if label:
            capture = cv2.VideoCapture(path)   # imread reads no GIF in OpenCV 4.6
            yale.append((label, capture.read()[1]))
    decisions(args.model, 'Yale', yale)
    others = sorted(glob.glob(os.path.join(SHARED, 'photos', 'real', '*', '*.jpg')))
    decisions(args.model, 'real photos',
              [(None, cv2.imread(p)) for p in others] + [(None, p) for p in people])


if __name__ == '__main__':
    main()
