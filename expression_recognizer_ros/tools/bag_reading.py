"""
Camera frames from a recorded bag, read with rosbags (no ROS install needed): a rosbag2 folder
(metadata.yaml beside .mcap or .db3 files), a single .mcap or .db3 file, or a ROS 1 .bag.

Only the image topic's messages are decoded, with the standard sensor_msgs definitions of a
typestore (ROS 2 Kilted's; ROS 1 Noetic's for .bag), so a recording that also holds topics whose
embedded definitions rosbags cannot parse still plays. Each frame is timed by its header stamp,
else by its receive time in the bag.

rosbags is optional (rosdep key python3-rosbags-pip): imported on first use, with one line when
missing.
"""

import dataclasses
from dataclasses import dataclass
import itertools
import os
from pathlib import Path

import numpy as np

from ..core.frame_source import CameraError, FrameSource
from ..core.image_codec import compressed_to_array, image_to_array

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
DECODERS = {IMAGE: image_to_array, COMPRESSED: compressed_to_array}
BAG_SUFFIXES = ('.mcap', '.db3', '.bag')
ROSBAGS_MISSING = ('reading and writing bags needs rosbags: pip install rosbags '
                   '(rosdep key python3-rosbags-pip)')


class BagError(CameraError):
    """A bag that cannot be read, or whose image topic is missing or ambiguous: one line."""


def is_bag(source) -> bool:
    """A .mcap, .db3 or .bag path, or a rosbag2 folder (it holds metadata.yaml)."""
    source = str(source)
    return (source.lower().endswith(BAG_SUFFIXES)
            or os.path.isfile(os.path.join(source, 'metadata.yaml')))


def open_source(source, width=0, height=0, loop=True, topic='') -> 'FrameSource | BagFrameSource':
    """The camera's frame source: a ``BagFrameSource`` for a bag, else a ``FrameSource``."""
    if is_bag(source):
        return BagFrameSource(source, topic, loop)
    return FrameSource(source, width, height, loop)


@dataclass(frozen=True)
class Frame:
    """
    One message of the image topic: ``index`` its position there, ``stamp`` and ``log_time`` in
    nanoseconds (header stamp, else receive time; the bag's receive time), ``image`` BGR or gray,
    None when it could not be decoded (``error`` says why).
    """

    index: int
    stamp: int
    log_time: int
    frame_id: str
    image: object = None
    error: str = ''


def short_type(msgtype) -> str:
    """sensor_msgs/msg/Image -> Image, for messages."""
    return msgtype.rsplit('/', 1)[-1]


class BagFrames:
    """An open bag's image topic; iterate for its frames in recording order. Close it after."""

    def __init__(self, path, topic=''):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'{path}: no such bag file or folder')
        try:
            from rosbags.typesys import get_typestore, Stores
            if self.path.suffix == '.bag':
                from rosbags.rosbag1 import Reader
                self.typestore = get_typestore(Stores.ROS1_NOETIC)
                self._deserialize = self.typestore.deserialize_ros1
            else:
                from rosbags.rosbag2 import Reader
                self.typestore = get_typestore(Stores.ROS2_KILTED)
                self._deserialize = self.typestore.deserialize_cdr
        except ImportError:
            raise BagError(ROSBAGS_MISSING) from None
        self._reader = None
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as exc:  # rosbags' ReaderError, sqlite's, the YAML parser's...
            raise BagError(f'{path}: not a readable bag ({unreadable(exc)})') from None
        self._reader = reader
        try:
            self.topic, self.msgtype = self._choose(topic)
        except BagError:
            self.close()
            raise
        self.connections = [c for c in self._reader.connections if c.topic == self.topic]
        self.count = sum(c.msgcount for c in self.connections)

    def _choose(self, topic):
        types = {}
        for connection in self._reader.connections:
            types.setdefault(connection.topic, set()).add(connection.msgtype)
        images = {name: kinds.pop() for name, kinds in types.items()
                  if len(kinds) == 1 and kinds <= set(DECODERS)}
        listing = ', '.join(f'{name} ({short_type(kind)})'
                            for name, kind in sorted(images.items()))
        if topic:
            if topic not in types:
                raise BagError(f'{self.path} has no topic {topic}; its image topics: '
                               f'{listing or "none"}')
            if topic not in images:
                raise BagError(f'topic {topic} in {self.path} is {", ".join(sorted(types[topic]))}'
                               f', not {IMAGE} or {COMPRESSED}')
            return topic, images[topic]
        if not images:
            raise BagError(f'{self.path} holds no {IMAGE} or {COMPRESSED} topic (its topics: '
                           f'{", ".join(sorted(types)) or "none"})')
        if len(images) > 1:
            raise BagError(f'{self.path} holds several image topics: {listing}; choose one with '
                           '--topic')
        return next(iter(images.items()))

    @property
    def duration(self) -> float:
        """Seconds from the bag's first message to its last (all topics)."""
        return self._reader.duration * 1e-9

    def _messages(self):
        """The topic's (connection, receive time, raw) in order; a damaged bag raises BagError."""
        messages = self._reader.messages(connections=self.connections)
        count = 0
        while True:
            try:
                yield next(messages)
            except StopIteration:
                return
            except Exception as exc:  # a damaged chunk or page: the rest cannot be trusted
                raise BagError(f'{self.path}: reading stopped after {count} messages of '
                               f'{self.topic} ({unreadable(exc)})') from None
            count += 1

    def rate(self, messages=30) -> float | None:
        """Frames per second of the first messages' receive times; None below two distinct."""
        times = [log_time for _, log_time, _ in itertools.islice(self._messages(), messages)]
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / ((times[-1] - times[0]) * 1e-9)

    def __iter__(self):
        """Frames in recording order; undecodable ones carry their error; BagError ends it."""
        decode = DECODERS[self.msgtype]
        for index, (connection, log_time, raw) in enumerate(self._messages()):
            try:
                msg = self._deserialize(raw, connection.msgtype)
            except Exception as exc:  # rosbags' SerdeError and what a cut message raises
                yield Frame(index, log_time, log_time, '', error=f'undecodable message: {exc}')
                continue
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            frame = Frame(index, stamp or log_time, log_time, msg.header.frame_id)
            try:
                yield dataclasses.replace(frame, image=decode(msg))
            except ValueError as exc:
                yield dataclasses.replace(frame, error=str(exc))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def unreadable(exc) -> str:
    """One line for why rosbags could not read a bag, with the repair for a cut-off MCAP."""
    text = ' '.join(str(exc).split()) or type(exc).__name__
    if 'end magic' in text.lower():
        text += ('; truncated? An MCAP cut off while recording lacks its index: '
                 '`mcap recover IN -o OUT` (the mcap CLI) keeps what is readable')
    return text


class BagFrameSource:
    """
    A bag's image topic as the camera node's source: ``FrameSource``'s ``read``, ``name``, ``fps``
    (the recorded rate) and ``release``, plus ``stamp``, the recorded capture time (ns) of the
    frame read last. With ``loop`` each pass after the first is shifted by the recording's length,
    so stamps keep rising. Undecodable frames are skipped and counted in ``skipped``.
    """

    def __init__(self, path, topic='', loop=True):
        self.source, self.loop = str(path), loop
        self._bag = BagFrames(path, topic)
        if not self._bag.count:
            self._bag.close()
            raise BagError(f'{path}: its image topic {self._bag.topic} holds no messages')
        self.fps = self._bag.rate()
        self.name, self.stamp, self.skipped = '', None, 0
        self._frames = iter(self._bag)
        self._first = self._last = None   # recorded stamps of the first and last good frame
        self._offset = 0

    def _next(self):
        for frame in self._frames:
            if frame.image is not None:
                return frame
            self.skipped += 1
        return None

    def read(self) -> np.ndarray | None:
        frame = self._next()
        if frame is None and self.loop and self._first is not None:
            period = 1e9 / self.fps if self.fps else 0
            self._offset += self._last - self._first + round(period)
            self._frames = iter(self._bag)
            frame = self._next()
        if frame is None:
            return None
        self._first = frame.stamp if self._first is None else self._first
        self._last = max(frame.stamp, self._last or frame.stamp)
        self.stamp = frame.stamp + self._offset
        self.name = f'{self._bag.topic} #{frame.index}'
        return frame.image

    def release(self) -> None:
        self._bag.close()
