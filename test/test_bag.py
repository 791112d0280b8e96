"""Recorded sessions: bags written here with rosbags (both ROS 2 storages, raw and JPEG frames of
the public-domain photos), `expression-recognizer bag` run as a user runs it, and its output read
back with readers this package did not write (rosbags' AnyReader and the mcap library, decoding
with the definitions embedded in the file); the camera node replaying a bag into the recognizer."""

import csv
import functools
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from conftest import REPO, SHARE, spin_until, start, stop
import cv2
from mcap.reader import make_reader
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from sensor_msgs.msg import Image

from expression_recognizer_ros.core.affect import valence_arousal
from expression_recognizer_ros.core.frame_source import FrameSource
from expression_recognizer_ros.msg import Emotion
from expression_recognizer_ros.tools.bag_reading import open_source
from expression_recognizer_ros.tools.bag_writing import csv_header
from expression_recognizer_ros.tools.synthetic import compose_stream, Person

MEDIA = os.path.join(REPO, 'media')
STORE = get_typestore(Stores.ROS2_KILTED)
IMAGE, COMPRESSED = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'
T0 = 1_760_000_000_123_456_789   # the recording's first stamp (ns)


@functools.cache
def people(count):
    """Grace Hopper walking in from the left, the astronaut joining a third of the way in."""
    grace = cv2.imread(os.path.join(MEDIA, 'grace_hopper_512x512.jpg'))
    astronaut = cv2.imread(os.path.join(MEDIA, 'astronaut.png'))
    cast = [Person('grace', (grace,), 0, count, (20, 80), (140, 110), 250, 220),
            Person('astro', (astronaut,), count // 3, count, (440, 150), (380, 130), 150, 170)]
    return compose_stream(cast, count)[0]


def image_message(frame, stamp, compressed, typestore=STORE, **ros1):
    """``ros1``: the Header's seq for a ROS 1 typestore."""
    types = typestore.types
    header = types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=stamp // 10**9, nanosec=stamp % 10**9),
        frame_id='head_camera', **ros1)
    if compressed:
        return types[COMPRESSED](header=header, format='bgr8; jpeg compressed bgr8',
                                 data=cv2.imencode('.jpg', frame)[1].reshape(-1))
    height, width = frame.shape[:2]
    return types[IMAGE](header=header, height=height, width=width, encoding='bgr8',
                        is_bigendian=0, step=width * 3, data=frame.reshape(-1))


def write_bag(path, count, fps, storage='mcap', compressed=False, topics=('/camera/image_raw',),
              corrupt=()):
    """A rosbag2 folder (or, for a path ending in .mcap/.db3, that one file) of ``count`` frames
    on each topic; receive times 4 ms after the stamps; frames in ``corrupt`` are cut JPEGs.
    Returns the stamps."""
    folder, suffix = os.path.splitext(path) if path.endswith(('.mcap', '.db3')) else (path, '')
    stamps = [T0 + round(i * 1e9 / fps) for i in range(count)]
    with Writer(folder, version=9, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        connections = [writer.add_connection(topic, COMPRESSED if compressed else IMAGE,
                                             typestore=STORE) for topic in topics]
        for i, (frame, stamp) in enumerate(zip(people(count), stamps)):
            msg = image_message(frame, stamp, compressed)
            if i in corrupt:
                msg.data = msg.data[:200]
            for connection in connections:
                writer.write(connection, stamp + 4_000_000,
                             STORE.serialize_cdr(msg, connection.msgtype))
    if suffix:
        os.replace(os.path.join(folder, os.path.basename(folder) + suffix), path)
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    return stamps


def run(*args, **kwargs):
    return subprocess.run([sys.executable, '-P', '-m', 'expression_recognizer_ros', 'bag', *args],
                          capture_output=True, text=True, timeout=300, **kwargs)


def read_anyreader(path):
    """topic -> [(receive time, message)] by rosbags' AnyReader."""
    out = {}
    with AnyReader([Path(path)]) as reader:
        for connection, log_time, raw in reader.messages():
            out.setdefault(connection.topic, []).append(
                (log_time, reader.deserialize(raw, connection.msgtype)))
    return out


def read_mcap(path):
    """topic -> [(log time, message)] by the mcap library, each message decoded with nothing but
    the definition embedded in the file's schema."""
    out, stores = {}, {}
    with open(path, 'rb') as f:
        reader = make_reader(f)
        for schema, channel, message in reader.iter_messages():
            assert (schema.encoding, channel.message_encoding) == ('ros2msg', 'cdr')
            if schema.id not in stores:
                stores[schema.id] = get_typestore(Stores.EMPTY)
                stores[schema.id].register(get_types_from_msg(schema.data.decode(), schema.name))
            msg = stores[schema.id].deserialize_cdr(message.data, schema.name)
            out.setdefault(channel.topic, []).append((message.log_time, msg))
    return out


def seconds(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def mcap_file(output):
    """The .mcap inside a rosbag2 folder OUTPUT, or OUTPUT itself."""
    if output.endswith('.mcap'):
        return output
    return os.path.join(output, os.path.basename(output) + '.mcap')


CASES = {   # storage, compressed, input as one file, output as one .mcap, --debug-image
    'mcap_raw_folders': ('mcap', False, False, False, True),
    'sqlite3_jpeg_folders': ('sqlite3', True, False, False, False),
    'mcap_jpeg_files': ('mcap', True, True, True, False),
    'db3_raw_file': ('sqlite3', False, True, True, False),
}


@pytest.mark.parametrize('case', list(CASES))
def test_every_frame_gets_an_emotion_with_its_stamp(tmp_path, case):
    storage, compressed, one_file, one_mcap, debug = CASES[case]
    source = str(tmp_path / ('in.' + ('mcap' if storage == 'mcap' else 'db3') if one_file
                             else 'in'))
    stamps = write_bag(source, 45, 15.0, storage, compressed)
    output = str(tmp_path / ('session.mcap' if one_mcap else 'session'))
    result = run(source, '-o', output, *(['--debug-image'] if debug else []))
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    assert 'processed 45 frames (3.0 s recorded)' in result.stdout
    assert '2 face IDs' in result.stdout, result.stdout

    for topics in (read_anyreader(output), read_mcap(mcap_file(output))):
        emotions, faces = topics['/emotion'], topics['/emotion/faces']
        assert [seconds(m.header.stamp) for _, m in emotions] == stamps
        assert [seconds(m.header.stamp) for _, m in faces] == stamps
        assert [t for t, _ in emotions] == [s + 4_000_000 for s in stamps]   # as received
        assert {m.header.frame_id for _, m in emotions} == {'head_camera'}
        seen = [m for _, m in emotions if m.face_detected]
        assert len(seen) >= 40   # YuNet confirms a face after 3 frames
        assert all(m.expression in m.labels and len(m.scores) == len(m.labels)
                   and m.model == 'fisherface-fer2013' and m.face_roi.width > 50 for m in seen)
        assert max(len(m.faces) for _, m in faces) == 2
        if debug:
            images = topics['/emotion/debug_image']
            assert [seconds(m.header.stamp) for _, m in images] == stamps
            assert (images[0][1].width, images[0][1].height, images[0][1].encoding) == \
                (640, 480, 'bgr8')
        else:
            assert '/emotion/debug_image' not in topics

    # the CSV: one row per face per frame, the same faces, scores and attention as the bag
    stem = output[:-5] if one_mcap else output
    with open(stem + '.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    labels = list(emotions[0][1].labels)
    assert list(rows[0]) == csv_header(labels)
    expected = [(seconds(m.header.stamp), face, m.attended_id) for _, m in faces
                for face in m.faces]
    assert len(rows) == len(expected)
    for row, (stamp, face, attended) in zip(rows, expected):
        assert abs(float(row['stamp']) - stamp * 1e-9) < 1e-6
        assert abs(float(row['time']) - (stamp - stamps[0]) * 1e-9) < 1e-3
        assert (row['face_id'], row['expression'], row['attended']) == \
            (face.id, face.expression, str(int(face.id == attended)))
        assert [float(row[f'score_{label}']) for label in labels] == \
            pytest.approx(list(face.scores), abs=1e-4)
        assert (float(row['valence']), float(row['arousal'])) == \
            pytest.approx(valence_arousal(labels, face.scores), abs=1e-4)
        assert int(row['width']) == face.roi.width
    plot = cv2.imread(stem + '.png')
    assert plot is not None and plot.shape[1] > 600


def test_embedded_definitions_hash_as_ros_builds_them(tmp_path):
    """The type hashes in the output equal rosidl's for this package's messages (the installed
    share/.../msg/*.json), so ROS 2 tools take the recorded types for the real ones."""
    write_bag(str(tmp_path / 'in'), 5, 10.0)
    assert run(str(tmp_path / 'in'), '-o', str(tmp_path / 'out')).returncode == 0
    with AnyReader([tmp_path / 'out']) as reader:
        digests = {c.msgtype: c.digest for c in reader.connections}
    for name in ('Emotion', 'FaceExpressions'):
        with open(os.path.join(SHARE, 'msg', f'{name}.json')) as f:
            built = json.load(f)['type_hashes'][0]
        assert digests[built['type_name']] == built['hash_string']


def test_definitions_are_found_in_a_source_tree_without_ros():
    """msg/*.msg beside the package in a checkout, with no ROS environment (the other tests run the
    colcon install, which finds them in share/)."""
    env = {k: v for k, v in os.environ.items() if k not in ('AMENT_PREFIX_PATH', 'PYTHONPATH')}
    env['PYTHONPATH'] = REPO
    code = ('from expression_recognizer_ros.tools.bag_writing import EMOTION, typestore; '
            'print(typestore().hash_rihs01(EMOTION))')
    out = subprocess.run([sys.executable, '-P', '-c', code], env=env, capture_output=True,
                         text=True, timeout=60)
    with open(os.path.join(SHARE, 'msg', 'Emotion.json')) as f:
        assert out.stdout.strip() == json.load(f)['type_hashes'][0]['hash_string'], out.stderr


def test_sigint_halfway_leaves_a_readable_bag_csv_and_plot(tmp_path):
    write_bag(str(tmp_path / 'long.mcap'), 300, 30.0, compressed=True)
    output = str(tmp_path / 'half.mcap')
    process = subprocess.Popen([sys.executable, '-P', '-m', 'expression_recognizer_ros', 'bag',
                                str(tmp_path / 'long.mcap'), '-o', output],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    table = str(tmp_path / 'half.csv')
    end = time.monotonic() + 120
    # rows reach the file once a second of recording is processed (30 frames)
    while time.monotonic() < end and not (os.path.exists(table) and os.path.getsize(table) > 400):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert 'Traceback' not in err and 'interrupted: the outputs hold the first' in out
    emotions = read_mcap(output)['/emotion']
    assert 30 <= len(emotions) < 300
    assert len(read_anyreader(output)['/emotion']) == len(emotions)
    assert f'processed {len(emotions)} frames' in out
    with open(table, newline='') as f:
        rows = list(csv.DictReader(f))
    assert rows and int(rows[-1]['frame']) < len(emotions)
    assert cv2.imread(str(tmp_path / 'half.png')) is not None


@pytest.mark.parametrize('suffix', ['mcap', 'db3'])
def test_truncated_bag_is_one_line_and_status_1(tmp_path, suffix):
    source = str(tmp_path / f'in.{suffix}')
    write_bag(source, 20, 10.0, 'mcap' if suffix == 'mcap' else 'sqlite3')
    with open(source, 'r+b') as f:
        f.truncate(os.path.getsize(source) // 2)
    result = run(source, '-o', str(tmp_path / 'out'))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('expression-recognizer bag: error: '), lines
    assert 'not a readable bag' in lines[0]
    assert not os.path.exists(tmp_path / 'out')


def test_undecodable_frames_are_skipped_and_counted(tmp_path):
    stamps = write_bag(str(tmp_path / 'in'), 20, 10.0, compressed=True, corrupt=(4, 11))
    result = run(str(tmp_path / 'in'), '-o', str(tmp_path / 'out'))
    assert result.returncode == 0, result.stderr
    assert 'skipped 2 frames that could not be processed; first: frame 4: truncated JPEG' in \
        result.stdout
    emotions = read_anyreader(tmp_path / 'out')['/emotion']
    assert [seconds(m.header.stamp) for _, m in emotions] == \
        [s for i, s in enumerate(stamps) if i not in (4, 11)]


def test_a_damaged_record_is_counted(tmp_path):
    """A message record whose opcode is destroyed (its chunk otherwise intact): the rest is
    processed and the summary counts the one the bag's index promised."""
    source = str(tmp_path / 'in.mcap')
    stamps = write_bag(source, 10, 10.0)   # raw frames: a chunk holds two
    with open(source, 'rb') as f:
        chunk = make_reader(f).get_summary().chunk_indexes[2]
    with open(source, 'r+b') as f:
        f.seek(chunk.chunk_start_offset + 1 + 8 * 4 + 4)   # opcode, length, times, size, crc
        name = int.from_bytes(f.read(4), 'little')           # compression: '' here
        f.seek(name + 8, os.SEEK_CUR)                         # its records' length
        assert f.read(1) == b'\x05'                         # a message record
        f.seek(-1, os.SEEK_CUR)
        f.write(b'\xff')
    result = run(source, '-o', str(tmp_path / 'out'))
    assert result.returncode == 0, result.stderr
    assert ('1 of the 10 messages the bag lists on /camera/image_raw could not be read '
            '(damaged records)') in result.stdout
    emotions = read_anyreader(tmp_path / 'out')['/emotion']
    assert len(emotions) == 9
    assert {seconds(m.header.stamp) for _, m in emotions} < set(stamps)


def test_several_image_topics_need_topic(tmp_path):
    source = str(tmp_path / 'in')
    write_bag(source, 6, 10.0, topics=('/left/image_raw', '/right/image_raw'))
    result = run(source, '-o', str(tmp_path / 'out'))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'expression-recognizer bag: error: {source} holds several image topics: '
        '/left/image_raw (Image), /right/image_raw (Image); choose one with --topic')
    result = run(source, '-o', str(tmp_path / 'out'), '--topic', '/right/image_raw')
    assert result.returncode == 0 and '6 frames on /right/image_raw' in result.stdout


def test_a_topic_of_another_type_is_refused(tmp_path):
    source = tmp_path / 'in'
    with Writer(source, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=STORE)
        writer.write(connection, T0, STORE.serialize_cdr(
            STORE.types['std_msgs/msg/String'](data='hello'), 'std_msgs/msg/String'))
    result = run(str(source), '-o', str(tmp_path / 'out'), '--topic', '/chatter')
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        'is std_msgs/msg/String, not sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage')
    result = run(str(source), '-o', str(tmp_path / 'out'))
    assert result.returncode == 1 and 'holds no sensor_msgs/msg/Image' in result.stderr


def test_without_rosbags_one_line_says_what_to_install(tmp_path):
    write_bag(str(tmp_path / 'in'), 3, 10.0)
    code = ('import importlib.abc, sys\n'
            'class Block(importlib.abc.MetaPathFinder):\n'
            '    def find_spec(self, name, path=None, target=None):\n'
            '        if name.split(".")[0] == "rosbags":\n'
            '            raise ImportError(f"no module named {name}")\n'
            'sys.meta_path.insert(0, Block())\n'
            'from expression_recognizer_ros.tools.cli import main\n'
            'sys.exit(main(sys.argv[1:]))\n')
    result = subprocess.run([sys.executable, '-P', '-c', code, 'bag', str(tmp_path / 'in'), '-o',
                             str(tmp_path / 'out')], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == ('expression-recognizer bag: error: reading and writing bags needs '
                             'rosbags: pip install rosbags (rosdep key python3-rosbags-pip)\n')


def test_ros1_bag(tmp_path):
    """A ROS 1 .bag reads as well (rosbags reads both generations)."""
    store = get_typestore(Stores.ROS1_NOETIC)
    source = tmp_path / 'in.bag'
    stamps = [T0 + i * 100_000_000 for i in range(8)]
    with Writer1(source) as writer:
        connection = writer.add_connection('/usb_cam/image_raw', IMAGE, typestore=store)
        for frame, stamp in zip(people(8), stamps):
            writer.write(connection, stamp, store.serialize_ros1(
                image_message(frame, stamp, False, store, seq=0), IMAGE))
    result = run(str(source), '-o', str(tmp_path / 'out'))
    assert result.returncode == 0, result.stderr
    emotions = read_anyreader(tmp_path / 'out')['/emotion']
    assert [seconds(m.header.stamp) for _, m in emotions] == stamps


def test_bag_source_loops_with_rising_stamps(tmp_path):
    """The camera's bag source: the recorded frames and stamps, its rate, and with loop each later
    pass shifted by the recording's length plus one frame."""
    source = str(tmp_path / 'in.db3')
    stamps = write_bag(source, 5, 20.0, 'sqlite3', compressed=True, corrupt=(2,))
    bag = open_source(source, loop=True)
    try:
        assert bag.fps == pytest.approx(20.0)
        frames = [bag.read() for _ in range(8)]
        played = [stamps[i] for i in (0, 1, 3, 4)]   # frame 2 cannot be decoded
        shift = stamps[4] - stamps[0] + 50_000_000
        assert [f.shape for f in frames] == [(480, 640, 3)] * 8
        assert bag.stamp == played[3] + shift and bag.skipped == 2
        assert bag.name == '/camera/image_raw #4'
    finally:
        bag.release()
    once = open_source(source, loop=False)
    assert [once.read() is not None for _ in range(5)] == [True] * 4 + [False]
    once.release()
    assert isinstance(open_source(MEDIA, loop=False), FrameSource)   # not a bag: as before


def test_camera_replays_a_bag_into_the_recognizer(node, tmp_path):
    """source:=<bag>: the camera publishes the recorded frames at the recorded rate with their
    recorded stamps, and the recognizer's Emotions carry them."""
    source = str(tmp_path / 'session.mcap')
    # 10 s: our subscription may match the camera's publisher a few seconds after it starts
    stamps = write_bag(source, 100, 10.0, compressed=True)
    images, arrivals, emotions = [], [], []

    def on_image(msg):
        images.append(msg)
        arrivals.append(time.monotonic())
    node.create_subscription(Image, 'image_raw', on_image, 100)
    node.create_subscription(Emotion, 'emotion', emotions.append, 100)
    recognizer = start('recognizer_node', '-r', 'image:=image_raw')
    camera = None
    try:
        assert spin_until(node, lambda: node.count_publishers('emotion') > 0, timeout=60)
        time.sleep(1.0)   # the recognizer's subscription matches the camera's publisher
        camera = start('camera_node', '-p', f'source:={source}', '-p', 'loop:=false')
        assert spin_until(node, lambda: camera.poll() is not None and len(images) >= 50
                          and sum(e.face_detected for e in emotions) >= 10, timeout=60), \
            f'{len(images)} images, {len(emotions)} Emotions'
        spin_until(node, lambda: False, timeout=1.0)   # the last Emotions
    finally:
        log = stop(recognizer) + (stop(camera) if camera is not None else '')
    image_stamps = [seconds(i.header.stamp) for i in images]
    assert image_stamps == stamps[-len(image_stamps):], log   # in order, as recorded
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 8.0 < rate < 12.0, f'{rate:.1f} Hz'
    assert 'at 10 Hz' in log and 'end of input reached' in log
    assert emotions and {seconds(e.header.stamp) for e in emotions} <= set(stamps)
    assert any(e.face_detected and e.expression in e.labels for e in emotions)
    assert camera.returncode == 0, log
