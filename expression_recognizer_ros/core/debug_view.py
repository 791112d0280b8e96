"""
The annotated debug image: every face's box, track ID and label, the attended face highlighted,
and its class scores as bars.
"""

import cv2
import numpy as np

GREEN, WHITE, GREY, RED = (80, 200, 80), (255, 255, 255), (160, 160, 160), (60, 60, 220)
AMBER = (0, 170, 255)


def annotate(frame, result, labels) -> np.ndarray:
    """
    Draw a ``pipeline.FrameResult`` on a copy of a BGR (or grayscale) frame; returns the BGR
    copy. The attended face is green with a thick box, the others amber; a face within a short miss
    is grey.
    """
    out = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    if not result.faces:
        outcome = result.detection.outcome if result.detection is not None else 'no_face'
        cv2.putText(out, outcome.replace('_', ' '), (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, RED,
                    2)
        return out
    attended = result.attended
    for face in result.faces:
        x, y, w, h = face.box
        chosen = attended is not None and face.id == attended.id
        colour = GREY if not face.visible else GREEN if chosen else AMBER
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 3 if chosen else 1)
        cv2.putText(out, f'{face.id} {face.label} {face.confidence:.0%}', (x, max(20, y - 8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2 if chosen else 1)
    cv2.putText(out, f'{result.detector.replace("haarcascade_", "")}, {result.num_faces} face(s)',
                (6, out.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, WHITE, 1)
    if attended is None:
        return out
    top = max(attended.scores) or 1
    for i, (label, score) in enumerate(zip(labels, attended.scores)):
        row = 14 + 16 * i
        cv2.putText(out, label[:9], (6, row + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, WHITE, 1)
        length = int(90 * max(score, 0) / top)
        colour = GREEN if label == attended.label else GREY
        cv2.rectangle(out, (80, row), (80 + length, row + 10), colour, -1)
    return out
