"""ROS 2 lifecycle node: sensor_msgs/Image on ``image`` in, Emotion on ``emotion`` out.

configure reads the parameters and loads the model; activate subscribes and starts the worker;
deactivate stops both; cleanup lets the model go. Frames arrive on the executor thread and wait in a
one-frame slot; the worker always takes the newest, so the node never lags behind the camera, and
every frame replaced before it was processed is counted as dropped.
"""

import dataclasses
import threading
import time

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, RegionOfInterest

from ..classifiers.registry import load_classifier, resolve_model_dir
from ..core.debug_view import annotate
from ..core.detection import DetectorConfig
from ..core.health import Rates, RecognizerThresholds, recognizer_level
from ..core.pipeline import Recognizer
from ..msg import Emotion
from .diagnostics import DiagnosticsPublisher
from .image_conversion import array_to_image_fields, image_to_array
from .node_main import ManagedNode, run_node

DETECTION_PARAMETERS = {
    # DetectorConfig field (the parameter has its name and default): description
    'cascades': 'Haar cascades tried in order; the first that finds exactly one face wins. '
                'File names in OpenCV\'s data folder, or paths.',
    'scale_factor': 'detectMultiScale scaleFactor (> 1.0)',
    'min_neighbors': 'detectMultiScale minNeighbors (>= 0)',
    'min_size': 'smallest face side in pixels (>= 1)',
    'max_size': 'largest face side in pixels; 0 for no limit',
    'lazy_cascades': 'stop at the first cascade with exactly one face (same decision as running all '
                     'four, less work)',
    'detect_max_width': 'detect on a copy downscaled to this width; 0 for full size',
    'min_size_ratio': 'smallest face side as a fraction of the frame\'s shorter side, in [0, 1); 0 for '
                      'min_size alone',
    'track_face': 'search near the last frame\'s face first, falling back to the whole frame',
    'full_search_every': 'with track_face: search the whole frame at least every N frames',
}
START_ERRORS = (ValueError, FileNotFoundError)


def _default(field):
    value = getattr(DetectorConfig(), field)
    return list(value) if isinstance(value, tuple) else value


class RecognizerNode(ManagedNode):

    def __init__(self):
        super().__init__('recognizer')
        self._condition = threading.Condition()
        self._running = False
        self._worker = self.recognizer = self.subscription = None
        self.declare_parameter('model_dir', '', ParameterDescriptor(
            description='model directory (manifest.json + model files), or the name of a shipped model '
                        '(fisherface-fer2013, fisherface-ckplus, cnn-fer2013); empty for the default',
            read_only=True))
        self.declare_parameter('reliability', 'reliable', ParameterDescriptor(
            description='image subscription reliability: reliable (no frame lost to the transport), or '
                        'best_effort to connect to a best-effort camera driver', read_only=True))
        for name, description in DETECTION_PARAMETERS.items():
            self.declare_parameter(name, _default(name), ParameterDescriptor(description=description))
        defaults = RecognizerThresholds()
        for name, description in (('min_rate', 'WARN below this many processed frames per second while '
                                                'frames are dropped'),
                                  ('max_latency_ms', 'WARN above this latency, image stamp to Emotion'),
                                  ('stale_after', 'WARN after this many seconds without an image')):
            self.declare_parameter(f'diagnostics.{name}', float(getattr(defaults, name)),
                                   ParameterDescriptor(description=description, read_only=True))
        self.declare_parameter('diagnostics.period', 1.0, ParameterDescriptor(
            description='seconds between /diagnostics reports', read_only=True))
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

    def on_configure(self, state):
        return self.configure_or_fail(self._configure, START_ERRORS)

    def _configure(self):
        reliability = self.get_parameter('reliability').value
        if reliability not in ('best_effort', 'reliable'):
            raise ValueError(f'reliability must be best_effort or reliable, got {reliability!r}')
        self.reliability = ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort' \
            else ReliabilityPolicy.RELIABLE
        self.model_dir = resolve_model_dir(self.get_parameter('model_dir').value)
        self.recognizer = Recognizer(load_classifier(self.model_dir), self._detector_config())
        self.classifier = self.recognizer.classifier
        self.publisher = self.create_lifecycle_publisher(Emotion, 'emotion', 10)
        self.debug_publisher = self.create_lifecycle_publisher(Image, 'emotion/debug_image', 1)
        self.frames_received = self.frames_processed = self.frames_dropped = self.frames_failed = 0
        self.last_latency_ms = self._last_image = None
        self.last_failure = ''
        self.thresholds = RecognizerThresholds(*(self.get_parameter(f'diagnostics.{name}').value
                                                 for name in ('min_rate', 'max_latency_ms', 'stale_after')))
        self._rates = Rates(time.monotonic())
        self.diagnostics = DiagnosticsPublisher(self, 'expression recognition', self.classifier.id)
        self.diagnostics_timer = self.create_timer(self.get_parameter('diagnostics.period').value,
                                                   self._publish_diagnostics)

    def on_activate(self, state):
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=self.reliability)
        self.subscription = self.create_subscription(Image, 'image', self._on_image, qos)
        self._slot, self._running = None, True
        self._worker = threading.Thread(target=self._work, name='recognizer', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'listening on {self.subscription.topic_name} ({self.reliability.name.lower()}), publishing '
            f'{self.publisher.topic_name}; model {self.classifier.id or self.model_dir} '
            f'({len(self.classifier.labels)} labels)')
        return super().on_activate(state)

    def on_deactivate(self, state):
        self._stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self.destroy_timer(self.diagnostics_timer)
        self.diagnostics.destroy()
        for publisher in (self.publisher, self.debug_publisher):
            self.destroy_lifecycle_publisher(publisher)
        self.recognizer = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self._stop()
        return TransitionCallbackReturn.SUCCESS

    def _stop(self):
        """No more frames in, the worker finished: deactivate, shutdown and destroy_node."""
        if self.subscription is not None:
            self.destroy_subscription(self.subscription)
            self.subscription = None
        with self._condition:
            self._running = False
            self._condition.notify()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def _detector_config(self, changes=None):
        values = {name: self.get_parameter(name).value for name in DETECTION_PARAMETERS}
        values.update(changes or {})
        values['cascades'] = tuple(values['cascades'])
        return DetectorConfig(**values).validate()

    def _validate_parameters(self, parameters):
        """Refuse a bad detection value with the reason, before it is set."""
        try:
            self._detector_config({p.name: p.value for p in parameters if p.name in DETECTION_PARAMETERS})
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters):
        """Once set: the next frame is detected with the new values."""
        if self.recognizer is not None and any(p.name in DETECTION_PARAMETERS for p in parameters):
            self.recognizer.reconfigure(self._detector_config())

    def _on_image(self, msg):
        with self._condition:
            self.frames_received += 1
            self._last_image = time.monotonic()
            if self._slot is not None:
                self.frames_dropped += 1
            self._slot = msg
            self._condition.notify()

    def _work(self):
        while True:
            with self._condition:
                while self._slot is None and self._running:
                    self._condition.wait()
                if not self._running:
                    return
                msg, self._slot = self._slot, None
            self._process(msg)

    def _process(self, msg):
        try:
            frame = image_to_array(msg)
            recognition = self.recognizer.recognize(frame)
        except Exception as exc:  # one bad frame must never stop the node
            self.frames_failed += 1
            self.last_failure = str(exc)
            self.get_logger().warn(f'frame skipped: {exc}', throttle_duration_sec=5.0)
            return
        self.frames_processed += 1
        self.publisher.publish(self._emotion(msg.header, recognition))
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.last_latency_ms = (self.get_clock().now().nanoseconds * 1e-9 - stamp) * 1e3
        if self.debug_publisher.get_subscription_count() > 0:
            self._publish_debug(msg.header, frame, recognition)

    def _emotion(self, header, recognition):
        out = Emotion(header=header, model=self.classifier.id, detector=recognition.detection.cascade)
        out.labels = list(self.classifier.labels)
        out.num_models = self.classifier.n_models
        out.face_detected = recognition.detection.found
        if recognition.detection.found:
            x, y, w, h = recognition.detection.box
            out.face_roi = RegionOfInterest(x_offset=max(x, 0), y_offset=max(y, 0), width=w, height=h)
            prediction = recognition.prediction
            out.expression = prediction.label
            out.confidence = float(prediction.confidence)
            if prediction.votes is not None:
                out.votes = list(prediction.votes)
                out.scores = [v / out.num_models for v in out.votes]
            else:
                out.scores = [float(v) for v in prediction.scores]
        return out

    def _publish_debug(self, header, frame, recognition):
        encoding, height, width, step, data = array_to_image_fields(annotate(frame, recognition, self.classifier.labels))
        self.debug_publisher.publish(Image(header=header, encoding=encoding, height=height, width=width,
                                           step=step, data=data))

    def _publish_diagnostics(self):
        now = time.monotonic()
        rates = self._rates.update(now, received=self.frames_received, processed=self.frames_processed,
                                   dropped=self.frames_dropped, failed=self.frames_failed)
        since_image = None if self._last_image is None else now - self._last_image
        level, message = recognizer_level(rates, self.last_latency_ms, since_image, self.thresholds)
        values = {'processing rate (fps)': f'{rates["processed"]:.1f}', 'input rate (fps)': f'{rates["received"]:.1f}',
                  'frames received': self.frames_received, 'frames processed': self.frames_processed,
                  'frames dropped': self.frames_dropped, 'frames failed': self.frames_failed,
                  'last latency (ms)': 'none' if self.last_latency_ms is None else f'{self.last_latency_ms:.1f}',
                  'model': self.classifier.id, 'input topic': self.subscription.topic_name if self.subscription else 'none (inactive)',
                  'last failure': self.last_failure}
        self.diagnostics.publish(level, message, values)

    def destroy_node(self):
        self._stop()
        super().destroy_node()


def main(args=None):
    run_node(RecognizerNode, 'recognizer', args)


if __name__ == '__main__':
    main()
