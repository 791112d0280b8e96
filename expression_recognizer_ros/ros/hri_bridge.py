"""
ROS4HRI (REP-155) face topics from the recognizer's results, for the ROS human-robot-interaction
stack (pyhri, hri_fullbody, people-aware navigation...) to consume.

Published, relative to the node's namespace (``/humans/faces/...`` without one), every frame:
- ``humans/faces/tracked`` (hri_msgs/IdsList): the IDs of the faces in view;
- per face ID, publishers created when the ID appears and destroyed when it goes:
  ``humans/faces/<id>/roi`` (hri_msgs/NormalizedRegionOfInterest2D: the box in [0, 1] frame
  coordinates, c = the detector's score), ``humans/faces/<id>/cropped`` (sensor_msgs/Image: the box
  cut from the source image, as it came), ``humans/faces/<id>/aligned`` (sensor_msgs/Image, mono8:
  the crop the classifier saw), ``humans/faces/<id>/expression`` (hri_msgs/Expression).

Every message's header is the source image's (capture stamp, camera frame). The expression token
is the smoothed arg-max label (the package's tokens are hri_msgs/Expression's; CK+'s ``contempt``,
which hri_msgs lacks, is sent as ``disgusted``, its nearest basic emotion); ``confidence`` is that
label's smoothed score: a calibrated probability for the CNN, a vote share for the Fisherfaces.

Valence and arousal: ``core.affect`` (the class scores' expectation over a circumplex table).

Without hri_msgs (``import`` fails) the bridge is off and the node says so in one line.
"""

from sensor_msgs.msg import Image

from .image_conversion import array_to_image
from ..core.affect import valence_arousal
from ..core.boxes import clip_box

try:
    from hri_msgs.msg import Expression, IdsList, NormalizedRegionOfInterest2D
    HRI_MISSING = ''
except ImportError as exc:   # optional: hri_msgs comes from rosdep (ros-<distro>-hri-msgs)
    Expression = IdsList = NormalizedRegionOfInterest2D = None
    HRI_MISSING = str(exc)

TOKENS = {'contempt': 'disgusted'}   # labels without an hri_msgs/Expression token


class HriBridge:
    """Per-face ROS4HRI publishers on ``node``, kept in step with the tracked IDs."""

    def __init__(self, node, labels, prefix='humans/faces'):
        self.node, self.labels, self.prefix = node, list(labels), prefix
        self.tracked = node.create_publisher(IdsList, f'{prefix}/tracked', 10)
        self.faces = {}    # id -> {'roi': publisher, 'cropped': ..., 'aligned': ..., ...}

    def _open(self, face_id):
        topic = f'{self.prefix}/{face_id}'
        create = self.node.create_publisher
        return {'roi': create(NormalizedRegionOfInterest2D, f'{topic}/roi', 10),
                'cropped': create(Image, f'{topic}/cropped', 10),
                'aligned': create(Image, f'{topic}/aligned', 10),
                'expression': create(Expression, f'{topic}/expression', 10)}

    def _close(self, face_id):
        for publisher in self.faces.pop(face_id).values():
            self.node.destroy_publisher(publisher)

    def publish(self, header, frame, result) -> None:
        """
        One frame's ``pipeline.FrameResult``: each face's ROI, crops and expression, then
        the IDs.
        """
        ids = [face.id for face in result.faces]
        for gone in [i for i in self.faces if i not in ids]:
            self._close(gone)
        width, height = result.frame_size
        for face in result.faces:
            if face.id not in self.faces:
                self.faces[face.id] = self._open(face.id)
            publishers = self.faces[face.id]
            x0, y0, x1, y1 = clip_box(face.box, result.frame_size)
            publishers['roi'].publish(NormalizedRegionOfInterest2D(
                header=header, xmin=x0 / width, ymin=y0 / height, xmax=x1 / width,
                ymax=y1 / height, c=float(face.score)))
            # the image copies only for someone listening
            cropped, aligned = publishers['cropped'], publishers['aligned']
            if face.visible and x1 > x0 and y1 > y0 and cropped.get_subscription_count():
                cropped.publish(array_to_image(frame[y0:y1, x0:x1], header))
            if face.crop is not None and aligned.get_subscription_count():
                aligned.publish(array_to_image(face.crop, header))
            valence, arousal = valence_arousal(self.labels, face.scores)
            publishers['expression'].publish(Expression(
                header=header, expression=TOKENS.get(face.label, face.label), valence=valence,
                arousal=arousal, confidence=float(face.confidence)))
        self.tracked.publish(IdsList(header=header, ids=ids))

    def destroy(self) -> None:
        """Every publisher, for the node's cleanup."""
        for face_id in list(self.faces):
            self._close(face_id)
        self.node.destroy_publisher(self.tracked)
