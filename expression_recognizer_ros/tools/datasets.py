"""
Loading labelled faces: the FER2013 CSV and the ``<root>/<emotion>/*.<ext>`` folder layout.

Labels are mapped onto the canonical vocabulary (``core/labels.py``); a folder whose name is no
known expression keeps its lower-cased name, so evaluation can report it and training can refuse
it.
"""

from dataclasses import dataclass, field
import gzip
import hashlib
import os
import re

import cv2
import numpy as np

from ..core.face_alignment import align_face, AlignmentConfig
from ..core.images import decode_image, IMAGE_EXTENSIONS, ImageReadError
from ..core.labels import CANONICAL, canonical, FER2013_CLASSES
from ..core.preprocessing import crop
from ..core.resources import package_path
from ..core.yunet_detection import YuNetConfig, YuNetDetector

# CK+ names files S010_004_00000017.png; Yale names them subject01.happy.gif.
DEFAULT_SUBJECT_PATTERN = r'^(S\d{3}|subject\d+)[_.]'
FER2013_USAGES = ('Training', 'PublicTest', 'PrivateTest')


@dataclass
class Dataset:
    """Images with their labels, paths, subjects and splits, as one dataset loader read them."""

    name: str
    images: list                 # grayscale uint8 arrays (an (n, h, w) array for FER2013)
    # canonical label, or the folder's own name when it is no known label
    labels: list
    paths: list                  # file path, or 'fer2013.csv.gz:row' for CSV rows
    subjects: list = None        # subject id per image where file names carry one
    usage: list = None           # FER2013 Usage per row
    checksum: str = ''
    skipped: list = field(default_factory=list)  # (path, reason) of unreadable files
    aligned: bool = False        # re-framed by ``realign``, as the recognizer frames faces

    def __len__(self):
        return len(self.labels)

    def subset(self, indices) -> 'Dataset':
        indices = np.asarray(indices, dtype=np.int64)
        if isinstance(self.images, np.ndarray):
            images = self.images[indices]
        else:
            images = [self.images[i] for i in indices]
        pick = lambda seq: None if seq is None else [seq[i] for i in indices]  # noqa: E731
        return Dataset(self.name, images, pick(self.labels), pick(self.paths), pick(self.subjects),
                       pick(self.usage), self.checksum, list(self.skipped), self.aligned)

    def split(self, usage) -> 'Dataset':
        if self.usage is None:
            raise ValueError(f'dataset {self.name!r} has no splits; '
                             '--split applies to FER2013 only')
        if usage not in FER2013_USAGES:
            raise ValueError(f'unknown split {usage!r}; expected one of {FER2013_USAGES}')
        return self.subset([i for i, u in enumerate(self.usage) if u == usage])

    @property
    def unknown_labels(self) -> list[str]:
        return sorted(set(self.labels) - set(CANONICAL))


def load(path, fmt=None, subject_pattern=DEFAULT_SUBJECT_PATTERN) -> Dataset:
    """Load a dataset, guessing the format from the path when ``fmt`` is None."""
    fmt = fmt or ('folder' if os.path.isdir(path) else 'fer2013')
    if fmt == 'fer2013':
        return load_fer2013(path)
    if fmt == 'folder':
        return load_folder(path, subject_pattern)
    raise ValueError(f'unknown dataset format {fmt!r}; expected fer2013 or folder')


def load_fer2013(path) -> Dataset:
    """Read the FER2013 CSV (plain or gzipped): 48x48 faces, canonical labels and Usage per row."""
    if os.path.isdir(path):
        path = os.path.join(path, 'fer2013.csv.gz')
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f'cannot read FER2013 CSV {path}: {exc}') from None
    lines = [line for line in data.split(b'\n')[1:] if line.strip()]
    header = data[:data.find(b'\n')].strip().decode('ascii', 'replace')
    if header.replace(' ', '') != 'emotion,pixels,Usage':
        raise ValueError(f'{path}: expected header "emotion,pixels,Usage", got {header!r}')
    rows = [line.split(b',') for line in lines]
    if any(len(r) != 3 for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != 3)
        raise ValueError(f'{path}: row {bad + 1} does not have 3 fields')
    pixels = np.fromstring(b' '.join(r[1] for r in rows), dtype=np.uint8, sep=' ')
    if pixels.size != len(rows) * 48 * 48:
        raise ValueError(f'{path}: expected {len(rows)} x 2304 pixels, got {pixels.size} values')
    classes = [int(r[0]) for r in rows]
    if min(classes) < 0 or max(classes) >= len(FER2013_CLASSES):
        raise ValueError(f'{path}: emotion index outside 0..6')
    base = os.path.basename(path)
    return Dataset(
        name='fer2013', images=pixels.reshape(-1, 48, 48),
        labels=[FER2013_CLASSES[c] for c in classes],
        paths=[f'{base}:{i}' for i in range(len(rows))],
        usage=[r[2].strip().decode('ascii') for r in rows],
        checksum='md5:' + hashlib.md5(data).hexdigest())  # of the decompressed CSV, as published


def load_folder(root, subject_pattern=DEFAULT_SUBJECT_PATTERN) -> Dataset:
    """Read ``<root>/<label>/*.<ext>`` in sorted order; unreadable files are skipped and listed."""
    if not os.path.isdir(root):
        raise ValueError(f'dataset folder {root!r} does not exist')
    pattern = re.compile(subject_pattern) if subject_pattern else None
    images, labels, paths, subjects, skipped = [], [], [], [], []
    digest = hashlib.sha256()
    for folder in sorted(os.listdir(root)):
        folder_path = os.path.join(root, folder)
        if not os.path.isdir(folder_path):
            continue
        label = canonical(folder) or folder.lower()
        for name in sorted(os.listdir(folder_path)):
            if not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(folder_path, name)
            try:
                raw = np.fromfile(path, dtype=np.uint8)
            except OSError as exc:
                skipped.append((path, str(exc)))
                continue
            try:
                image = decode_image(raw, grayscale=True)
            except ImageReadError as exc:
                skipped.append((path, str(exc)))
                continue
            digest.update(f'{folder}/{name}\0'.encode())
            digest.update(raw.tobytes())
            match = pattern.match(name) if pattern else None
            images.append(image)
            labels.append(label)
            paths.append(path)
            subjects.append(match.group(1) if match else None)
    if not images:
        raise ValueError(f'no readable images under {root!r} (layout: <root>/<label>/*.png)')
    has_subjects = all(s is not None for s in subjects)
    return Dataset(os.path.basename(os.path.normpath(root)), images, labels, paths,
                   subjects if has_subjects else None, checksum='sha256:' + digest.hexdigest(),
                   skipped=skipped)


def _faces_of(dataset, face_of):
    """
    ``face_of(image)`` for every image: (dataset of the faces found, indices where it gave None,
    left out).
    """
    keep, faces, missing = [], [], []
    for i, image in enumerate(dataset.images):
        face = face_of(image)
        if face is None:
            missing.append(i)
        else:
            keep.append(i)
            faces.append(face)
    found = dataset.subset(keep)
    found.images = faces
    return found, missing


def crop_faces(dataset, detector, margin=0.0) -> tuple[Dataset, list[int]]:
    """Detect and crop the face in every image: (faces dataset, indices with no single face)."""
    def face_of(image):
        detection = detector.detect(image)
        return crop(image, detection.box, margin) if detection.found else None
    return _faces_of(dataset, face_of)


def pipeline_faces(dataset, pipeline) -> tuple[Dataset, list[int]]:
    """
    The crop the run-time pipeline classifies for every image's attended (largest) face;
    returns (faces dataset, indices where it found no face). ``pipeline``: a
    ``core.pipeline.ExpressionPipeline`` without tracking delay (``STILL_IMAGE_TRACKING``).
    """
    def face_of(image):
        pipeline.reset()
        attended = pipeline.process(image).attended
        return None if attended is None else attended.crop
    return _faces_of(dataset, face_of)


def _yunet(yunet_dir):
    return YuNetDetector(yunet_dir or package_path('models', 'yunet'), YuNetConfig())


def _aligned_largest_face(detector, image, alignment):
    faces = detector.detect(image)
    if not faces:
        return None
    return align_face(image, max(faces, key=lambda f: f.size).landmarks, alignment)


def align_faces(dataset, alignment=AlignmentConfig(), yunet_dir='') -> tuple[Dataset, list[int]]:
    """
    The largest face of every uncropped image, found by YuNet and aligned by its landmarks as the
    recognizer frames it: (faces dataset, indices where no face was found, left out).
    """
    detector = _yunet(yunet_dir)
    return _faces_of(dataset, lambda image: _aligned_largest_face(detector, image, alignment))


def realign(dataset, alignment=AlignmentConfig(), yunet_dir='', side=192,
            log=print) -> tuple[Dataset, list[int]]:
    """
    Already-cropped faces (FER2013, CK+48) framed as the recognizer frames a detected face: each
    enlarged to ``side`` px and padded by half that (edges replicated) so that YuNet sees a whole
    face, then aligned by the largest face's landmarks. A face YuNet misses is kept as given.
    Returns a new dataset (images an (n, size, size) array) and the indices missed.
    """
    detector = _yunet(yunet_dir)
    pad, size = side // 2, int(alignment.size)
    images, missed = np.empty((len(dataset), size, size), np.uint8), []
    for i, image in enumerate(dataset.images):
        big = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        face = _aligned_largest_face(detector, big, alignment)
        if face is None:
            face = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            missed.append(i)
        images[i] = face
        if log and (i + 1) % 5000 == 0:
            log(f'realigned {i + 1}/{len(dataset)} faces')
    out = dataset.subset(range(len(dataset)))
    out.images, out.aligned = images, True
    return out, missed


def subject_folds(subjects, k=5, seed=0) -> list[np.ndarray]:
    """Split image indices into k folds, no subject in two (largest subjects placed first)."""
    ids = sorted(set(subjects))
    if len(ids) < k:
        raise ValueError(f'{len(ids)} subjects cannot fill {k} folds')
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    sizes = {s: 0 for s in ids}
    for s in subjects:
        sizes[s] += 1
    fold_of, load = {}, [0] * k
    for s in sorted(ids, key=lambda s: -sizes[s]):
        f = int(np.argmin(load))
        fold_of[s] = f
        load[f] += sizes[s]
    return [np.array([i for i, s in enumerate(subjects) if fold_of[s] == f]) for f in range(k)]
