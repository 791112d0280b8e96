#!/usr/bin/env python3
"""
A recorded session to try ``expression-recognizer bag`` on (README, Recorded sessions): a ROS 2 bag
of 640x480 frames in which people come and go, each in a lane of the frame, drifting, showing
their photos in turn (a few seconds each), one to three in view at a time.

  compose_session_bag.py OUT [--photos DIR] [--seconds 180] [--fps 30] [--storage mcap|sqlite3]
                             [--compressed]

--photos: a folder of <person>/<photo> face pictures, default ../shared/photos/real/people (not
public domain: never commit a bag made from them); --photos media uses the two public-domain
photos. OUT: a rosbag2 folder, or one file if it ends in .mcap or .db3. Frames are stamped from
2025-01-01 and received 4 ms later, on /camera/image_raw (sensor_msgs/Image, bgr8) or with
--compressed /camera/image_raw/compressed (JPEG).
"""

import argparse
import dataclasses
import os
import sys

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
SHARED = os.environ.get('EXPRESSION_RECOGNIZER_SHARED',
                        os.path.join(os.path.dirname(REPO), 'shared'))

from expression_recognizer_ros.tools import synthetic  # noqa: E402

T0 = 1_735_689_600_000_000_000   # 2025-01-01T00:00:00Z in ns
LANES = (20, 230, 440)           # left edges of the three lanes, pixels


def identities(folder):
    """Each person's photos by name; media/ (public domain) gives one identity per photo."""
    if os.path.basename(os.path.normpath(folder)) == 'media':
        return {name: (cv2.imread(os.path.join(folder, name)),)
                for name in sorted(os.listdir(folder)) if name.endswith(('.png', '.jpg'))}
    out = {}
    for name in sorted(os.listdir(folder)):
        files = sorted(os.listdir(os.path.join(folder, name)))
        out[name] = tuple(cv2.imread(os.path.join(folder, name, f)) for f in files)
    return out


def cast(photos, frames, fps, seed=0):
    """People entering every ~23 s, staying 40-60 s each in lane order, drifting and changing."""
    rng = np.random.default_rng(seed)
    names = list(photos)
    people, start, k = [], int(2 * fps), 0
    while start < frames:
        stay = int(rng.uniform(40, 60) * fps)
        x, y = LANES[k % 3] + rng.integers(-10, 10), rng.integers(60, 200)
        dx, dy = rng.integers(-60, 60, 2)
        w0, w1 = rng.integers(130, 200, 2)
        name = names[k % len(names)]
        people.append(synthetic.Person(
            name, photos[name], start, min(frames, start + stay), (int(x), int(y)),
            (int(x + dx), int(y + dy)), float(w0), float(w1),
            change_every=int(rng.uniform(3, 6) * fps)))
        start, k = start + int(rng.uniform(20, 26) * fps), k + 1
    return people


def main():
    """Compose the frames one by one (a long session does not fit in memory) into the bag."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('out')
    parser.add_argument('--photos', default=os.path.join(SHARED, 'photos', 'real', 'people'))
    parser.add_argument('--seconds', type=float, default=180.0)
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--compressed', action='store_true')
    args = parser.parse_args()
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    frames = int(args.seconds * args.fps)
    people = cast(identities(args.photos), frames, args.fps)
    backdrop = synthetic.background()
    folder, suffix = os.path.splitext(args.out) if args.out.endswith(('.mcap', '.db3')) \
        else (args.out, '')
    msgtype = 'sensor_msgs/msg/CompressedImage' if args.compressed else 'sensor_msgs/msg/Image'
    topic = '/camera/image_raw' + ('/compressed' if args.compressed else '')
    with Writer(folder, version=9, storage_plugin=StoragePlugin[args.storage.upper()]) as writer:
        connection = writer.add_connection(topic, msgtype, typestore=store)
        for i in range(frames):
            # frame i alone: the same paths, shifted to start i frames earlier
            shifted = [dataclasses.replace(p, start=p.start - i, end=p.end - i) for p in people]
            frame = synthetic.compose_stream(shifted, 1, backdrop=backdrop)[0][0]
            stamp = T0 + round(i * 1e9 / args.fps)
            header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](
                sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id='camera')
            if args.compressed:
                msg = types[msgtype](header=header, format='bgr8; jpeg compressed bgr8',
                                     data=cv2.imencode('.jpg', frame)[1].reshape(-1))
            else:
                msg = types[msgtype](header=header, height=480, width=640, encoding='bgr8',
                                     is_bigendian=0, step=640 * 3, data=frame.reshape(-1))
            writer.write(connection, stamp + 4_000_000, store.serialize_cdr(msg, msgtype))
    if suffix:
        os.replace(os.path.join(folder, os.path.basename(folder) + suffix), args.out)
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    print(f'wrote {args.out}: {frames} frames on {topic}, {len(people)} appearances of '
          f'{len({p.identity for p in people})} people')


if __name__ == '__main__':
    main()
