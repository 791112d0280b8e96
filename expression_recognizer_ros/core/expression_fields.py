"""
What ``Emotion`` and ``FaceExpressions`` carry of one frame's result, as plain field values: the
live node builds rclpy messages from them and the ``bag`` command rosbags messages, so a recorded
session's topics equal what the node would have published.

Regions are dicts of RegionOfInterest's fields (``do_rectify`` left at its default); arrays are
lists. Nothing here imports ROS.
"""

from .boxes import clip_box

NO_REGION = dict(x_offset=0, y_offset=0, width=0, height=0)


def region(box, frame_size) -> dict:
    """The (x, y, w, h) box clipped to the frame, as RegionOfInterest fields."""
    x0, y0, x1, y1 = clip_box(box, frame_size)
    return dict(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def emotion_fields(result, labels, model, n_models) -> dict:
    """Emotion's fields except the header: the attended face, or none (expression UNKNOWN)."""
    face = result.attended
    votes = []
    if face is not None and face.prediction is not None and face.prediction.votes is not None:
        votes = list(face.prediction.votes)
    return dict(
        face_detected=face is not None, face_id=face.id if face else '',
        num_faces=result.num_faces, expression=face.label if face else '',
        confidence=float(face.confidence) if face else 0.0, labels=list(labels), votes=votes,
        scores=list(face.scores) if face else [], num_models=n_models, detector=result.detector,
        face_roi=region(face.box, result.frame_size) if face else dict(NO_REGION), model=model)


def faces_fields(result, labels, model) -> dict:
    """FaceExpressions' fields except the header; ``faces`` holds FaceExpression's fields."""
    return dict(
        labels=list(labels), model=model, detector=result.detector,
        attended_id=result.attended.id if result.attended is not None else '',
        faces=[dict(id=f.id, roi=region(f.box, result.frame_size), visible=f.visible,
                    detection_score=float(f.score), expression=f.label,
                    confidence=float(f.confidence), scores=list(f.scores))
               for f in result.faces])
