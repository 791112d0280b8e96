"""Where camera frames come from: a device, a video file, or a folder of images in name order."""

import os
import sys

import cv2
import numpy as np

from .images import IMAGE_EXTENSIONS, ImageReadError, read_image


class CameraError(RuntimeError):
    """A source that cannot be opened or read; the message names it and what was tried."""


class FrameSource:
    """
    ``read()`` returns the next BGR frame, or None at the end of a file or folder without ``loop``.

    ``name`` says which frame ``read()`` returned last (an image's file name, or ``frame N`` of a
    video or device), so that output can be traced back to its input; ``fps`` is a video file's own
    frame rate (None for devices and folders).
    """

    def __init__(self, source, width=0, height=0, loop=True):
        self.source = str(source)
        self.loop = loop
        self._files = None
        self._index = 0
        self._capture = None
        self.name = ''
        self.fps = None
        self._frames_read = 0
        if os.path.isdir(self.source):
            self._files = sorted(os.path.join(self.source, f) for f in os.listdir(self.source)
                                 if f.lower().endswith(IMAGE_EXTENSIONS))
            if not self._files:
                raise CameraError(f'image folder {self.source!r} holds no images '
                                  f'({", ".join(IMAGE_EXTENSIONS)})')
            return
        # Linux cameras through V4L2, as ROS camera drivers read them: Debian's and Ubuntu's OpenCV
        # try GStreamer first, which starts its own pipeline and warnings even for a missing device
        device_api = cv2.CAP_V4L2 if sys.platform.startswith('linux') else cv2.CAP_ANY
        if self.source.isdigit():
            target, api = int(self.source), device_api
            tried = f'camera index {self.source} (/dev/video{self.source})'
        elif self.source.startswith('/dev/'):
            target, api, tried = self.source, device_api, f'video device {self.source}'
        elif os.path.isfile(self.source):
            target, api, tried = self.source, cv2.CAP_ANY, f'video file {self.source}'
        else:
            raise CameraError(f'source {self.source!r} is neither a camera index, '
                              'a /dev/video device, a video file nor an image folder')
        # our error says it in one line; Debian's OpenCV 4.6 has no cv2.utils.logging
        logging = getattr(getattr(cv2, 'utils', None), 'logging', None)
        level = logging.getLogLevel() if logging else None
        if logging:
            logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        try:
            self._capture = cv2.VideoCapture(target, api)
        finally:
            if logging:
                logging.setLogLevel(level)
        if not self._capture.isOpened():
            raise CameraError(f'cannot open {tried}: no such device or it is busy')
        if width and height:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._is_file = os.path.isfile(self.source)
        if self._is_file and self._capture.get(cv2.CAP_PROP_FPS) > 0:
            self.fps = self._capture.get(cv2.CAP_PROP_FPS)

    def read(self) -> np.ndarray | None:
        if self._files is not None:
            if self._index >= len(self._files):
                if not self.loop:
                    return None
                self._index = 0
            path = self._files[self._index]
            self._index += 1
            try:
                frame = read_image(path)
            except ImageReadError as exc:
                raise CameraError(f'cannot read image {exc}') from None
            self.name = os.path.basename(path)
            return frame
        ok, frame = self._capture.read()
        if not ok and self._is_file:
            if not self.loop:
                return None
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._frames_read = 0
            ok, frame = self._capture.read()
        if ok:
            self.name = f'frame {self._frames_read}'
            self._frames_read += 1
            return frame
        raise CameraError(f'reading from {self.source!r} failed (device disconnected?)')

    def release(self) -> None:
        if self._capture is not None:
            self._capture.release()
