import shutil

import numpy as np
import pytest

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
