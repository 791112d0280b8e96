"""`make demo SOURCE=...`: the demo on your own photos of mixed sizes, and what the camera reads
from files (frame names, a video's own rate)."""

import os
import subprocess
import sys

from conftest import PHOTOS
import cv2
import numpy as np

from expression_recognizer_ros.core.frame_source import FrameSource
from expression_recognizer_ros.tools.media import contact_sheet, write_gif


def test_demo_on_a_folder_of_mixed_sizes(tmp_path):
    """Every photo answered once and named in its line; the GIF and contact sheet are written
    although the photos differ in size and aspect ratio (this crashed in contact_sheet)."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    names = []
    for name, size in (('astronaut.png', (512, 512)), ('grace_hopper_512x512.jpg', (300, 420)),
                       ('astronaut.png', (640, 360))):
        names.append(f'{len(names)}_{os.path.splitext(name)[0]}.png')
        cv2.imwrite(str(folder / names[-1]),
                    cv2.resize(cv2.imread(os.path.join(PHOTOS, name)), size))
    out = tmp_path / 'out'
    params = os.path.join(os.path.dirname(__file__), '..', 'config', 'recognizer.yaml')
    result = subprocess.run([sys.executable, '-P', '-m', 'expression_recognizer_ros.ros.demo',
                             '--params', params, '--source', str(folder), '--loop', 'false',
                             '--seconds', '60', '--out', str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith('[')]
    for name in names:
        assert sum(f'] {name}: ' in line for line in lines) == 1, result.stdout
    # unrelated stills: each photo's face reported at once (no three-frame track confirmation)
    assert all(' of 1 by yunet' in line for line in lines), result.stdout
    assert 'processed 3, dropped (newer frame arrived first) 0' in result.stdout, result.stdout
    assert (out / 'demo.gif').stat().st_size > 0
    assert cv2.imread(str(out / 'contact_sheet.png')) is not None


def test_contact_sheet_and_gif_take_mixed_sizes(tmp_path):
    images = [np.zeros((120, 304, 3), np.uint8), np.full((120, 289, 3), 50, np.uint8),
              np.full((90, 160, 3), 200, np.uint8)]
    sheet = contact_sheet(images, columns=2)
    assert sheet.shape == (2 * (120 + 4) + 4, 2 * (304 + 4) + 4, 3)
    # centred in its cell
    assert (sheet[4 + 124 + 15:4 + 124 + 105, 4 + 72:4 + 72 + 160] == 200).all()
    write_gif(images, str(tmp_path / 'mixed.gif'))
    assert (tmp_path / 'mixed.gif').stat().st_size > 0


def test_frame_source_names_frames_and_knows_a_videos_rate(tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 12.5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 80 * i, np.uint8))
    writer.release()
    video = FrameSource(path, loop=True)
    assert video.fps == 12.5
    assert [video.read() is not None and video.name for _ in range(4)] == [
        'frame 0', 'frame 1', 'frame 2', 'frame 0']
    folder = tmp_path / 'folder'
    folder.mkdir()
    for name in ('b.png', 'a.jpg'):
        cv2.imwrite(str(folder / name), np.zeros((8, 8, 3), np.uint8))
    photos = FrameSource(str(folder), loop=False)
    assert photos.fps is None
    assert [photos.read() is not None and photos.name for _ in range(2)] == ['a.jpg', 'b.png']
    assert photos.read() is None
