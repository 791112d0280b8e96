import glob
import os
import shutil
import subprocess
import sys

from conftest import PHOTOS, REPO
import cv2
import numpy as np
import pytest

from expression_recognizer_ros.core.images import ImageReadError, read_image
from expression_recognizer_ros.core.labels import canonical, FER2013_CLASSES
from expression_recognizer_ros.tools.datasets import load_folder, subject_folds
from expression_recognizer_ros.tools.training import model_labels


def test_fer2013_rows_splits_and_checksum(fer2013):
    assert len(fer2013) == 35887 and fer2013.images.shape == (35887, 48, 48)
    assert fer2013.checksum == 'md5:f8428a1edbd21e88f42c73edd2a14f95'
    counts = {u: fer2013.usage.count(u) for u in ('Training', 'PublicTest', 'PrivateTest')}
    assert counts == {'Training': 28709, 'PublicTest': 3589, 'PrivateTest': 3589}
    private = fer2013.split('PrivateTest')
    per_class = [private.labels.count(label) for label in FER2013_CLASSES]
    assert per_class == [491, 55, 528, 879, 594, 416, 626]  # the README's table


def test_fer2013_plain_csv_equals_gzipped(fer2013, fer2013_csv, tmp_path):
    import gzip

    from expression_recognizer_ros.tools.datasets import load_fer2013
    with gzip.open(fer2013_csv, 'rb') as f:
        head = b''.join(f.readline() for _ in range(101))
    (tmp_path / 'fer.csv').write_bytes(head)
    plain = load_fer2013(str(tmp_path / 'fer.csv'))
    np.testing.assert_array_equal(plain.images, fer2013.images[:100])
    assert plain.labels == fer2013.labels[:100]


def test_ckplus_folder_labels_and_subjects(ckplus):
    assert len(ckplus) == 981 and not ckplus.skipped
    assert len(set(ckplus.subjects)) == 118
    assert model_labels(ckplus.labels) == ['angry', 'disgusted', 'scared', 'happy', 'sad',
                                           'surprised', 'contempt']


def test_aliases():
    assert canonical('Anger') == 'angry' and canonical('fearful') == 'scared'
    assert canonical('surprise') == 'surprised'
    assert canonical('sleepy') is None


def test_unknown_labels_are_kept_and_refused_for_training(yale_dir):
    yale = load_folder(yale_dir)
    assert yale.unknown_labels == ['sleepy', 'wink']
    with pytest.raises(ValueError, match="unknown labels \\['sleepy', 'wink'\\]"):
        model_labels(yale.labels)


def test_corrupt_and_empty_files_are_skipped_and_counted(ckplus_dir, tmp_path):
    for name in ('happy', 'sadness'):
        shutil.copytree(f'{ckplus_dir}/{name}', tmp_path / name)
    (tmp_path / 'happy' / 'S999_001_00000001.png').write_bytes(b'\x89PNG not really')
    (tmp_path / 'happy' / 'S999_001_00000002.png').write_bytes(b'')
    data = load_folder(str(tmp_path))
    assert len(data) == 207 + 84
    assert sorted(p.rsplit('/', 1)[1] for p, _ in data.skipped) == ['S999_001_00000001.png',
                                                                     'S999_001_00000002.png']


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / 'happy').mkdir()
    with pytest.raises(ValueError, match='no readable images'):
        load_folder(str(tmp_path))


def test_subject_folds_never_share_a_subject(ckplus):
    folds = subject_folds(ckplus.subjects, k=5)
    seen = [set(ckplus.subjects[i] for i in fold) for fold in folds]
    assert sum(len(f) for f in folds) == len(ckplus)
    for a in range(5):
        for b in range(a + 1, 5):
            assert not seen[a] & seen[b]


def test_realign_frames_cropped_faces_as_the_recognizer_does(ckplus):
    from expression_recognizer_ros.tools.datasets import realign
    faces = ckplus.subset(range(0, 981, 49))
    faces.images[-1] = np.full((48, 48), 128, np.uint8)   # no face in it
    aligned, missed = realign(faces, log=None)
    assert missed == [len(faces) - 1]
    assert aligned.images.shape == (len(faces), 48, 48) and aligned.labels == faces.labels
    assert np.array_equal(aligned.images[-1], faces.images[-1])
    # Realigning an aligned face again moves it by little: its eyes are where the template is.
    again, missed = realign(aligned.subset(range(len(faces) - 1)), log=None)
    assert not missed
    shift = np.abs(again.images.astype(int) - aligned.images[:-1].astype(int)).mean()
    moved = np.abs(aligned.images[:-1].astype(int)
                   - np.stack(faces.images[:-1]).astype(int)).mean()
    assert shift < moved / 2, (shift, moved)


def test_yale_gifs_read_as_pillow_decodes_them_on_every_opencv(yale_dir):
    """OpenCV reads GIF from 4.11 on; before, the reader's Pillow fallback reads them."""
    from PIL import Image
    yale = load_folder(yale_dir)
    assert len(yale) == len(glob.glob(f'{yale_dir}/*/*.gif')) == 89 and not yale.skipped
    for path, image in zip(yale.paths, yale.images):
        with Image.open(path) as gif:
            np.testing.assert_array_equal(image, np.asarray(gif.convert('L')))
    colour = read_image(yale.paths[0])
    assert colour.shape == (243, 320, 3) and (colour[..., 0] == yale.images[0]).all()


@pytest.fixture
def pcx(tmp_path):
    """The astronaut as a PCX file: Pillow writes and reads it, no OpenCV decodes it."""
    from PIL import Image
    photo = cv2.imread(os.path.join(PHOTOS, 'astronaut.png'))
    path = tmp_path / 'astronaut.pcx'
    Image.fromarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)).save(path)
    assert cv2.imread(str(path)) is None
    return path, photo


def test_what_opencv_cannot_decode_pillow_reads(pcx):
    path, photo = pcx
    np.testing.assert_array_equal(read_image(str(path)), photo)
    np.testing.assert_array_equal(read_image(str(path), grayscale=True),
                                  cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))


def test_without_pillow_the_error_names_the_package(pcx):
    """Python without Pillow: OpenCV's formats still read, the others name python3-pil."""
    code = f"""
import sys
sys.modules['PIL'] = None  # as if not installed
from expression_recognizer_ros.core.images import read_image, ImageReadError
assert read_image({os.path.join(PHOTOS, 'astronaut.png')!r}).shape == (512, 512, 3)
try:
    read_image({str(pcx[0])!r})
except ImageReadError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'astronaut.pcx: OpenCV' in result.stdout and 'python3-pil' in result.stdout


@pytest.mark.parametrize('content, reason', [(None, 'No such file'), (b'', 'empty file'),
                                             (b'GIF89a broken', 'not an image'),
                                             (b'plain text', 'not an image')])
def test_unreadable_files_are_clear_errors(tmp_path, content, reason):
    path = tmp_path / 'face.gif'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as error:
        read_image(str(path))
    assert str(path) in str(error.value)
