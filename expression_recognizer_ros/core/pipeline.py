"""One frame in, one answer out: grayscale, cascade fallback, crop, classify."""

from dataclasses import dataclass

from .detection import Detection, DetectorConfig, FaceDetector
from .preprocessing import crop, to_gray


@dataclass(frozen=True)
class Recognition:
    detection: Detection
    prediction: object = None   # classifier.Prediction when a face was found


class Recognizer:
    """The detector and a loaded classifier; crops use the margin the model was trained with."""

    def __init__(self, classifier, detector_config=DetectorConfig()):
        self.classifier = classifier
        self.detector = FaceDetector(detector_config)

    def reconfigure(self, detector_config):
        """Swap detection parameters; raises ValueError (and keeps the old ones) if they are bad."""
        self.detector = self.detector.reconfigured(detector_config)

    def recognize(self, image):
        gray = to_gray(image)
        detection = self.detector.detect(gray)
        if not detection.found:
            return Recognition(detection)
        face = crop(gray, detection.box, self.classifier.preprocessing.margin)
        return Recognition(detection, self.classifier.predict([face])[0])
