"""The annotated debug image: face box, deciding cascade, label and the vote histogram as bars."""

import cv2

GREEN, WHITE, GREY, RED = (80, 200, 80), (255, 255, 255), (160, 160, 160), (60, 60, 220)


def annotate(frame, recognition, labels):
    """Draw on a copy of a BGR (or grayscale) frame; returns the BGR copy."""
    out = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
    detection, prediction = recognition.detection, recognition.prediction
    if not detection.found:
        cv2.putText(out, detection.outcome.replace('_', ' '), (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, RED, 2)
        return out
    x, y, w, h = detection.box
    cv2.rectangle(out, (x, y), (x + w, y + h), GREEN, 2)
    cv2.putText(out, f'{prediction.label} {prediction.confidence:.0%}', (x, max(20, y - 8)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7, GREEN, 2)
    found_by = detection.cascade.replace('haarcascade_', '') + (' (tracked)' if detection.tracked else '')
    cv2.putText(out, found_by, (x, min(out.shape[0] - 5, y + h + 18)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, WHITE, 1)
    top = max(prediction.scores) or 1
    for i, (label, score) in enumerate(zip(labels, prediction.scores)):
        row = 14 + 16 * i
        cv2.putText(out, label[:9], (6, row + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, WHITE, 1)
        length = int(90 * max(score, 0) / top)
        colour = GREEN if label == prediction.label else GREY
        cv2.rectangle(out, (80, row), (80 + length, row + 10), colour, -1)
    return out
