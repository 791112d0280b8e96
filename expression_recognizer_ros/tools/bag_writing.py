"""
The ``bag`` command's outputs, each written as frames come: an MCAP bag with the nodes' topics, a
CSV with one row per face per frame, and at the end a timeline plot.

The bag embeds the package's message definitions (msg/*.msg from the source tree or the installed
share directory), so any MCAP or rosbag2 reader decodes it without this package: rosbags, the mcap
library, Foxglove, ``ros2 bag info``. rosbags writes them as it generates them, with one change:
an empty string constant (Emotion's ``UNKNOWN=``) is written ``UNKNOWN=""``, the same value to
rosidl, which rosbags' own parser needs (rosbags 0.11.9 cannot read ``UNKNOWN=`` back).
"""

import csv
import os
from pathlib import Path
import re
import shutil
from typing import TYPE_CHECKING

import numpy as np

from .bag_reading import BagError, ROSBAGS_MISSING
from ..core.affect import valence_arousal
from ..core.boxes import clip_box
from ..core.debug_view import annotate
from ..core.expression_fields import emotion_fields, faces_fields
from ..core.image_codec import array_to_image_fields
from ..core.labels import CANONICAL
from ..core.resources import package_path

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

PACKAGE = 'expression_recognizer_ros'
MESSAGES = ('Emotion', 'FaceExpression', 'FaceExpressions')
EMOTION = f'{PACKAGE}/msg/Emotion'
FACES = f'{PACKAGE}/msg/FaceExpressions'
IMAGE = 'sensor_msgs/msg/Image'
TOPICS = {'emotion': ('/emotion', EMOTION), 'faces': ('/emotion/faces', FACES),
          'debug': ('/emotion/debug_image', IMAGE)}
EMPTY_STRING_CONSTANT = re.compile(r'^(w?string(?:<=\d+)? +\w+) *=$', re.MULTILINE)


def outputs(output) -> tuple[Path, Path, Path]:
    """(bag, CSV, PNG) paths for OUTPUT: the CSV and plot beside it, named by its stem."""
    bag = Path(output)
    stem = bag.with_suffix('') if bag.suffix == '.mcap' else bag
    return bag, stem.with_name(stem.name + '.csv'), stem.with_name(stem.name + '.png')


def message_types() -> dict:
    """
    The package's messages for a rosbags typestore, from msg/*.msg as rosidl reads them: comments
    dropped, an empty string constant quoted.
    """
    from rosbags.typesys import get_types_from_msg
    types = {}
    for name in MESSAGES:
        path = package_path('msg', f'{name}.msg')
        try:
            text = Path(path).read_text(encoding='utf-8')
        except OSError as exc:
            raise BagError(f'cannot read the message definition {path}: {exc.strerror}') from None
        lines = [line.split('#', 1)[0].rstrip() for line in text.splitlines()]
        text = EMPTY_STRING_CONSTANT.sub(r'\1=""', '\n'.join(line for line in lines if line))
        types.update(get_types_from_msg(text, f'{PACKAGE}/msg/{name}'))
    return types


def typestore() -> 'Typestore':
    """ROS 2 Kilted's standard messages plus this package's."""
    try:
        from rosbags.typesys import get_typestore, Stores
    except ImportError:
        raise BagError(ROSBAGS_MISSING) from None
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(message_types())
    return store


class AnnotatedBag:
    """
    The output bag: ``/emotion``, ``/emotion/faces`` and optionally ``/emotion/debug_image``, each
    message stamped and logged like its source image. A rosbag2 folder (``ros2 bag record -o``'s
    layout), or for an OUTPUT ending in .mcap that single file (moved out of its folder on close).
    """

    def __init__(self, output, labels, model, debug_image=False):
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.output = Path(output)
        if self.output.exists():
            raise BagError(f'{output} exists already; choose another OUTPUT or remove it')
        self.single_file = self.output.suffix == '.mcap'
        folder = self.output.with_suffix('.partial') if self.single_file else self.output
        if folder.exists():
            raise BagError(f'{folder} exists already (left by an interrupted run?); remove it')
        self.store = typestore()
        self.labels, self.model = list(labels), model
        self._writer = Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}
        self.counts = {}    # topic: messages written
        for key in ('emotion', 'faces', 'debug') if debug_image else ('emotion', 'faces'):
            topic, msgtype = TOPICS[key]
            self.counts[topic] = 0
            definition, _ = self.store.generate_msgdef(msgtype, ros_version=2)
            self._connections[key] = self._writer.add_connection(
                topic, msgtype, msgdef=EMPTY_STRING_CONSTANT.sub(r'\1=""', definition),
                rihs01=self.store.hash_rihs01(msgtype))
        types = self.store.types
        self._emotion, self._faces, self._face = (
            types[EMOTION], types[FACES], types[f'{PACKAGE}/msg/FaceExpression'])
        self._header = types['std_msgs/msg/Header']
        self._time = types['builtin_interfaces/msg/Time']
        self._roi, self._image = types['sensor_msgs/msg/RegionOfInterest'], types[IMAGE]

    def _write(self, key, msg, log_time):
        connection = self._connections[key]
        self._writer.write(connection, log_time, self.store.serialize_cdr(msg, connection.msgtype))
        self.counts[connection.topic] += 1

    def _region(self, fields):
        return self._roi(do_rectify=False, **fields)

    def write(self, frame, result, n_models, image=None) -> None:
        """One frame's Emotion and FaceExpressions (and annotated ``image`` when asked for)."""
        header = self._header(stamp=self._time(sec=frame.stamp // 1_000_000_000,
                                               nanosec=frame.stamp % 1_000_000_000),
                              frame_id=frame.frame_id)
        emotion = emotion_fields(result, self.labels, self.model, n_models)
        emotion.update(face_roi=self._region(emotion['face_roi']),
                       votes=np.asarray(emotion['votes'], np.uint8),
                       scores=np.asarray(emotion['scores'], np.float32))
        self._write('emotion', self._emotion(header=header, **emotion), frame.log_time)
        faces = faces_fields(result, self.labels, self.model)
        faces['faces'] = [self._face(**dict(face, roi=self._region(face['roi']),
                                            scores=np.asarray(face['scores'], np.float32)))
                          for face in faces['faces']]
        self._write('faces', self._faces(header=header, **faces), frame.log_time)
        if image is not None and 'debug' in self._connections:
            encoding, height, width, step, data = array_to_image_fields(
                annotate(image, result, self.labels))
            self._write('debug', self._image(
                header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                step=step, data=np.frombuffer(data, np.uint8)), frame.log_time)

    def close(self) -> None:
        """Index and footer, metadata.yaml; a single-file OUTPUT moves into place."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        if self.single_file:
            folder = writer.path
            os.replace(folder / f'{folder.name}.mcap', self.output)
            shutil.rmtree(folder)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def csv_header(labels) -> list[str]:
    """The CSV's columns: time, face, box, expression, every class score, valence, arousal."""
    return (['stamp', 'time', 'frame', 'face_id', 'attended', 'visible', 'x', 'y', 'width',
             'height', 'expression', 'confidence'] + [f'score_{label}' for label in labels]
            + ['valence', 'arousal'])


class FaceTable:
    """The CSV: one row per face per frame, flushed about once a second of recording."""

    def __init__(self, path, labels):
        self.path, self.labels = Path(path), tuple(labels)
        self._file = open(self.path, 'w', newline='', encoding='utf-8')
        self._csv = csv.writer(self._file)
        self._csv.writerow(csv_header(self.labels))
        self.rows = 0
        self._flushed = None

    def write(self, frame, seconds, result) -> None:
        """``seconds``: the frame's time from the first processed frame."""
        attended = result.attended.id if result.attended is not None else ''
        for face in result.faces:
            x0, y0, x1, y1 = clip_box(face.box, result.frame_size)
            valence, arousal = valence_arousal(self.labels, face.scores)
            self._csv.writerow(
                [f'{frame.stamp * 1e-9:.9f}', f'{seconds:.3f}', frame.index,
                 face.id, int(face.id == attended), int(face.visible), x0, y0, x1 - x0, y1 - y0,
                 face.label, f'{face.confidence:.4f}'] + [f'{s:.4f}' for s in face.scores]
                + [f'{valence:.4f}', f'{arousal:.4f}'])
            self.rows += 1
        if self._flushed is None or frame.stamp - self._flushed > 1_000_000_000:
            self._file.flush()
            self._flushed = frame.stamp

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# one colour per expression, the same in every plot (matplotlib's tab10 hues)
COLOURS = dict(zip(CANONICAL, ('#9e9e9e', '#d62728', '#2ca02c', '#9467bd', '#ffbf00', '#1f77b4',
                               '#ff7f0e', '#8c564b')))


def plot_timeline(timeline, path, title='') -> bool:
    """
    One band per face ID (first seen at the top), coloured by its expression in each frame's
    span; a black bar under the band where it was the attended face. ``timeline.runs()``: per ID
    the (start, end, label, attended) spans in seconds. Returns False without matplotlib.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use('Agg')
    from matplotlib.patches import Patch
    import matplotlib.pyplot as plt
    runs = timeline.runs()
    ids = list(runs)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.45 * max(1, len(ids))))
    used = set()
    for row, face_id in enumerate(ids):
        y = len(ids) - 1 - row
        for label in {label for _, _, label, _ in runs[face_id]}:
            spans = [(a, b - a) for a, b, other, _ in runs[face_id] if other == label]
            ax.broken_barh(spans, (y - 0.3, 0.6), facecolors=COLOURS.get(label, '#444444'))
            used.add(label)
        attended = [(a, b - a) for a, b, _, chosen in runs[face_id] if chosen]
        if attended:
            ax.broken_barh(attended, (y - 0.42, 0.1), facecolors='black')
    ax.set_yticks(range(len(ids)), list(reversed(ids)))
    ax.set_ylim(-0.7, max(1, len(ids)) - 0.3)
    ax.set_xlim(0, max(timeline.duration, 1e-3))
    ax.set_xlabel('time (s) from the first frame')
    ax.set_ylabel('face ID')
    ax.grid(axis='x', alpha=0.3)
    handles = [Patch(color=COLOURS.get(label, '#444444'), label=label)
               for label in sorted(used, key=lambda k: CANONICAL.index(k) if k in CANONICAL
                                   else len(CANONICAL))]
    handles.append(Patch(color='black', label='attended'))
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize=9)
    if not ids:
        ax.text(0.5, 0.5, 'no face', transform=ax.transAxes, ha='center', va='center')
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
