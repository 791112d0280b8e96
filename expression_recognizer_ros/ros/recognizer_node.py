"""
ROS 2 lifecycle node: sensor_msgs/Image on ``image`` (or CompressedImage on ``image/compressed``)
in; Emotion for the attended face on ``emotion`` and FaceExpressions for every face on
``emotion/faces`` out (``core.pipeline`` does the work; ``image_input`` matches the cameras).

configure reads the parameters and loads the model; activate subscribes and starts the worker;
deactivate stops both; cleanup lets the model go. Frames arrive on the executor thread and wait in
a one-frame slot; the worker always takes the newest, so the node never lags behind the camera, and
every frame replaced before it was processed is counted as dropped.
"""

import dataclasses
import threading
import time

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecyclePublisher, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest

from .diagnostics import DiagnosticsPublisher
from .hri_bridge import HRI_MISSING, HriBridge
from .image_conversion import array_to_image
from .image_input import ImageInput, RELIABILITIES, TRANSPORTS
from .lifecycle import ManagedNode
from .process import run_node
from ..classifiers.base import Classifier
from ..classifiers.registry import load_classifier, resolve_model_dir
from ..core.debug_view import annotate
from ..core.expression_fields import emotion_fields, faces_fields
from ..core.haar_detection import HaarConfig
from ..core.health import Rates, recognizer_level, RecognizerThresholds
from ..core.pipeline import ExpressionPipeline, PipelineConfig
from ..core.yunet_detection import ModelFileError
from ..msg import Emotion, FaceExpression, FaceExpressions

DETECTION_PARAMETERS = {
    # HaarConfig field (the parameter is haar.<field>, with its default): description
    'cascades': 'Haar cascades tried in order; the first that finds exactly one face wins. '
                "File names in OpenCV's data folder, or paths.",
    'scale_factor': 'detectMultiScale scaleFactor (> 1.0)',
    'min_neighbors': 'detectMultiScale minNeighbors (>= 0)',
    'min_size': 'smallest face side in pixels (>= 1)',
    'max_size': 'largest face side in pixels; 0 for no limit',
    'lazy_cascades': 'stop at the first cascade with exactly one face (same decision as running '
                     'all four, less work)',
    'detect_max_width': 'detect on a copy downscaled to this width; 0 for full size',
    'min_size_ratio': "smallest face side as a fraction of the frame's shorter side, in [0, 1); "
                      '0 for min_size alone',
    'track_face': "search near the last frame's face first, falling back to the whole frame",
    'full_search_every': 'with track_face: search the whole frame at least every N frames',
}
PIPELINE_PARAMETERS = {
    # parameter: (config section, field, description); the defaults are PipelineConfig()'s
    'detector': (None, 'detector',
                 "yunet: every face, tracked (default); haar_fallback: the original's four Haar "
                 'cascades and exactly-one rule (the haar.* parameters apply)'),
    'yunet.score_threshold': ('yunet', 'score_threshold',
                              'YuNet faces scoring below are dropped, in (0, 1]; 0.8 keeps '
                              'profile faces (they score 0.84-0.89)'),
    'yunet.nms_threshold': ('yunet', 'nms_threshold',
                            'YuNet non-maximum suppression IoU, in (0, 1]'),
    'yunet.top_k': ('yunet', 'top_k', 'YuNet candidates kept before non-maximum suppression'),
    'yunet.max_width': ('yunet', 'max_width',
                        'YuNet sees a copy downscaled to at most this width; 0 for full size '
                        '(for faces under ~80 px)'),
    'yunet.min_size': ('yunet', 'min_size',
                       'YuNet faces with a smaller box side (pixels) are dropped'),
    'tracking.confirm_after': ('tracking', 'confirm_after',
                               'frames in a row a face must be detected before it gets an ID and '
                               'is reported'),
    'tracking.max_missed': ('tracking', 'max_missed',
                            'frames a face keeps its ID without a detection'),
    'tracking.iou_threshold': ('tracking', 'iou_threshold',
                               'least box overlap (IoU) to continue a track'),
    'tracking.max_distance': ('tracking', 'max_distance',
                              'else the largest centre distance, in face sizes, to continue a '
                              'track'),
    'tracking.time_constant': ('tracking', 'time_constant',
                               'seconds: per-face exponential smoothing of the class scores '
                               '(0: none)'),
    'attend': ('tracking', 'attend',
               'the face reported on emotion: largest, or centre (nearest the image centre)'),
    'attend_margin': ('tracking', 'attend_margin',
                      'hysteresis: another face must be larger (or nearer the centre, in '
                      'half-diagonals) by this fraction to take the attention'),
}
# The Haar parameters before they were grouped as haar.*: still accepted, with a warning, until
# the next release.
DEPRECATED_NAMES = {field: f'haar.{field}' for field in DETECTION_PARAMETERS}
START_ERRORS = (ValueError, FileNotFoundError, ModelFileError)


def _default(field):
    value = getattr(HaarConfig(), field)
    return list(value) if isinstance(value, tuple) else value


def _pipeline_default(name):
    section, field, _ = PIPELINE_PARAMETERS[name]
    config = PipelineConfig()
    return getattr(config if section is None else getattr(config, section), field)


def _seconds(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


class RecognizerNode(ManagedNode):
    """The expression recognizer as a lifecycle node: images in, Emotion and faces out."""

    def __init__(self):
        super().__init__('recognizer')
        # configure: the model and the publishers
        self.model_dir: str = ''
        self.recognizer: ExpressionPipeline | None = None
        self.classifier: Classifier | None = None
        self.publisher: LifecyclePublisher | None = None
        self.faces_publisher: LifecyclePublisher | None = None
        self.debug_publisher: LifecyclePublisher | None = None
        self.hri: HriBridge | None = None
        self.thresholds = RecognizerThresholds()
        self.diagnostics: DiagnosticsPublisher | None = None
        # counted for /diagnostics (from configure on)
        self.frames_received = self.frames_processed = self.frames_dropped = 0
        self.frames_failed = 0
        self.last_latency_ms: float | None = None
        self.last_failure: str = ''
        self._last_image: float | None = None     # monotonic time of the last image
        self._rates: Rates | None = None
        # activate: frames in, and the worker. The executor thread leaves the newest frame in
        # _slot and parameter changes in _pending_config; the worker takes both under _condition.
        self.input: ImageInput | None = None
        self._condition = threading.Condition()
        self._slot: Image | CompressedImage | None = None
        self._pending_config: HaarConfig | None = None
        self._running: bool = False
        self._worker: threading.Thread | None = None
        self.declare_parameter('model_dir', '', ParameterDescriptor(
            description='model directory (manifest.json + model files), or the name of a model '
                        'shipped in models/ (e.g. cnn5-posed, recommended for strangers); empty '
                        'for the default',
            read_only=True))
        self.declare_parameter('hri', True, ParameterDescriptor(
            description='also publish the ROS4HRI (REP-155) face topics humans/faces/... when '
                        'hri_msgs is installed (without it: off, with a one-line notice)',
            read_only=True))
        self.declare_parameter('reliability', 'auto', ParameterDescriptor(
            description='image subscription reliability: auto follows the publishers as ros2 '
                        'topic echo does (reliable if all offer it, else best_effort) and '
                        're-matches when they change; reliable (best effort lost most '
                        '640x480 frames over default Fast DDS transports) or best_effort fix it',
            additional_constraints=f'one of {", ".join(RELIABILITIES)}', read_only=True))
        self.declare_parameter('transport', 'raw', ParameterDescriptor(
            description='raw: sensor_msgs/Image on image; compressed: sensor_msgs/CompressedImage '
                        '(JPEG or PNG, as image_transport publishes it) on image/compressed',
            additional_constraints=f'one of {", ".join(TRANSPORTS)}', read_only=True))
        for field, description in DETECTION_PARAMETERS.items():
            # An old name in a params file or -p wins: it is the user's, layered over the shipped
            # file's haar.* values.
            old = self._parameter_overrides.get(field)
            if old is not None:
                self._warn_deprecated(field)
            self.declare_parameter(DEPRECATED_NAMES[field],
                                   _default(field) if old is None else old.value,
                                   ParameterDescriptor(description=description),
                                   ignore_override=old is not None)
        for name, (_, _, description) in PIPELINE_PARAMETERS.items():
            self.declare_parameter(name, _pipeline_default(name), ParameterDescriptor(
                description=description, read_only=True))
        defaults = RecognizerThresholds()
        for name, description in (('min_rate', 'WARN below this many processed frames per second '
                                                'while frames are dropped'),
                                  ('max_latency_ms',
                                   'WARN above this latency, image stamp to Emotion'),
                                  ('stale_after',
                                   'WARN after this many seconds without an image')):
            self.declare_parameter(f'diagnostics.{name}', float(getattr(defaults, name)),
                                   ParameterDescriptor(description=description, read_only=True))
        self.declare_parameter('diagnostics.period', 1.0, ParameterDescriptor(
            description='seconds between /diagnostics reports', read_only=True))
        self.add_pre_set_parameters_callback(self._rename_deprecated)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

    def on_configure(self, state) -> TransitionCallbackReturn:
        return self.configure_or_fail(self._configure, START_ERRORS)

    def _configure(self):
        for name, choices in (('reliability', RELIABILITIES), ('transport', TRANSPORTS)):
            value = self.get_parameter(name).value
            if value not in choices:
                raise ValueError(f'{name} must be one of {", ".join(choices)}, got {value!r}')
        self.model_dir = resolve_model_dir(self.get_parameter('model_dir').value)
        classifier = load_classifier(self.model_dir)
        self.recognizer = ExpressionPipeline(classifier, self._pipeline_config())
        self.classifier = self.recognizer.classifier
        self.publisher = self.create_lifecycle_publisher(Emotion, 'emotion', 10)
        self.faces_publisher = self.create_lifecycle_publisher(FaceExpressions, 'emotion/faces',
                                                               10)
        self.debug_publisher = self.create_lifecycle_publisher(Image, 'emotion/debug_image', 1)
        if self.get_parameter('hri').value:
            if HRI_MISSING:
                self.get_logger().info(
                    f'ROS4HRI topics off: hri_msgs is not installed ({HRI_MISSING})')
            else:
                self.hri = HriBridge(self, classifier.labels)
        self.frames_received = self.frames_processed = self.frames_dropped = 0
        self.frames_failed = 0
        self.last_latency_ms = self._last_image = self._pending_config = None
        self.last_failure = ''
        self.thresholds = RecognizerThresholds(*(
            self.get_parameter(f'diagnostics.{name}').value
            for name in ('min_rate', 'max_latency_ms', 'stale_after')))
        self._rates = Rates(time.monotonic())
        self.diagnostics = DiagnosticsPublisher(
            self, 'expression recognition', self.classifier.id,
            self.get_parameter('diagnostics.period').value, self._diagnostics_report)

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.input = ImageInput(self, 'image', self.get_parameter('transport').value,
                                self.get_parameter('reliability').value, self._on_image)
        self._slot, self._running = None, True
        self._worker = threading.Thread(target=self._work, name='recognizer', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'listening on {self.input.describe()}, publishing '
            f'{self.publisher.topic_name} and {self.faces_publisher.topic_name}'
            f'{" and ROS4HRI humans/faces/..." if self.hri is not None else ""}; detector '
            f'{self.recognizer.detector_name}; model {self.classifier.id or self.model_dir} '
            f'({len(self.classifier.labels)} labels)')
        return super().on_activate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.diagnostics.destroy()
        for publisher in (self.publisher, self.faces_publisher, self.debug_publisher):
            self.destroy_lifecycle_publisher(publisher)
        if self.hri is not None:
            self.hri.destroy()
            self.hri = None
        self.recognizer = None
        return TransitionCallbackReturn.SUCCESS

    def stop_flow(self) -> None:
        """No more frames in, the worker finished: deactivate, shutdown and destroy_node."""
        if self.input is not None:
            self.input.destroy()
            self.input = None
        with self._condition:
            self._running = False
            self._condition.notify()
        if self._worker is not None:
            self._worker.join()   # one frame at most: publishers must outlive it (cleanup follows)
            self._worker = None

    def _detector_config(self, changes=None):
        """The HaarConfig of the haar.* parameters, with ``changes`` (field: value)."""
        values = {field: self.get_parameter(name).value
                  for field, name in DEPRECATED_NAMES.items()}
        values.update(changes or {})
        values['cascades'] = tuple(values['cascades'])
        return HaarConfig(**values).validate()

    def _pipeline_config(self):
        sections = {'yunet': {}, 'tracking': {}}
        for name, (section, field, _) in PIPELINE_PARAMETERS.items():
            if section is not None:
                sections[section][field] = self.get_parameter(name).value
        default = PipelineConfig()
        return PipelineConfig(
            detector=self.get_parameter('detector').value, haar=self._detector_config(),
            yunet=dataclasses.replace(default.yunet, **sections['yunet']),
            tracking=dataclasses.replace(default.tracking, **sections['tracking'])).validate()

    def _warn_deprecated(self, old_name):
        self.get_logger().warning(f'parameter {old_name} is deprecated and will be removed in '
                                  f'the next release: use {DEPRECATED_NAMES[old_name]}')

    def _rename_deprecated(self, parameters):
        """A run-time set of an old Haar name (ros2 param set) sets its haar.* parameter."""
        renamed = []
        for parameter in parameters:
            if parameter.name in DEPRECATED_NAMES:
                self._warn_deprecated(parameter.name)
                parameter = Parameter(DEPRECATED_NAMES[parameter.name], parameter.type_,
                                      parameter.value)
            renamed.append(parameter)
        return renamed

    def _validate_parameters(self, parameters):
        """Refuse a bad detection value with the reason, before it is set."""
        try:
            self._detector_config({p.name[len('haar.'):]: p.value for p in parameters
                                   if p.name.startswith('haar.')})
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters):
        """
        Once set: the worker applies the new values before its next frame. Handed over, not
        applied here: this is the executor thread, and the worker may be inside ``process``.
        """
        if any(p.name.startswith('haar.') for p in parameters):
            with self._condition:
                self._pending_config = self._detector_config()

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
                config, self._pending_config = self._pending_config, None
            if config is not None:
                self.recognizer.reconfigure(config)
            self._process(msg)

    def _process(self, msg):
        try:
            frame = self.input.to_array(msg)
            # an unstamped image (stamp 0) is timed from its arrival, here and for the latency
            stamp = _seconds(msg.header.stamp) or self.get_clock().now().nanoseconds * 1e-9
            result = self.recognizer.process(frame, stamp)
        except Exception as exc:  # one bad frame must never stop the node
            self.frames_failed += 1
            self.last_failure = str(exc)
            self.get_logger().warning(f'frame skipped: {exc}', throttle_duration_sec=5.0)
            return
        self.frames_processed += 1
        self.last_latency_ms = (self.get_clock().now().nanoseconds * 1e-9 - stamp) * 1e3
        self.publisher.publish(self._emotion(msg.header, result))
        self.faces_publisher.publish(self._faces(msg.header, result))
        if self.hri is not None:
            self.hri.publish(msg.header, frame, result)
        if self.debug_publisher.get_subscription_count() > 0:
            self._publish_debug(msg.header, frame, result)

    def _emotion(self, header, result):
        fields = emotion_fields(result, self.classifier.labels, self.classifier.id,
                                self.classifier.n_models)
        roi = RegionOfInterest(**fields.pop('face_roi'))
        return Emotion(header=header, face_roi=roi, **fields)

    def _faces(self, header, result):
        fields = faces_fields(result, self.classifier.labels, self.classifier.id)
        faces = [FaceExpression(roi=RegionOfInterest(**face.pop('roi')), **face)
                 for face in fields.pop('faces')]
        return FaceExpressions(header=header, faces=faces, **fields)

    def _publish_debug(self, header, frame, result):
        self.debug_publisher.publish(
            array_to_image(annotate(frame, result, self.classifier.labels), header))

    def _diagnostics_report(self):
        now = time.monotonic()
        rates = self._rates.update(now, received=self.frames_received,
                                   processed=self.frames_processed,
                                   dropped=self.frames_dropped, failed=self.frames_failed)
        since_image = None if self._last_image is None else now - self._last_image
        level, message = recognizer_level(rates, self.last_latency_ms, since_image,
                                          self.thresholds)
        values = {'processing rate (fps)': f'{rates["processed"]:.1f}',
                  'input rate (fps)': f'{rates["received"]:.1f}',
                  'frames received': self.frames_received,
                  'frames processed': self.frames_processed,
                  'frames dropped': self.frames_dropped, 'frames failed': self.frames_failed,
                  'last latency (ms)': ('none' if self.last_latency_ms is None
                                        else f'{self.last_latency_ms:.1f}'),
                  'model': self.classifier.id,
                  'input topic': self.input.topic if self.input else 'none (inactive)',
                  'input': self.input.describe() if self.input else 'none (inactive)',
                  'last failure': self.last_failure}
        return level, message, values

    def destroy_node(self) -> None:
        self.stop_flow()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the recognizer node until shutdown."""
    run_node(RecognizerNode, 'recognizer', args)


if __name__ == '__main__':
    main()
