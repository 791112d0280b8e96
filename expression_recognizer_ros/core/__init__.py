"""
Core layer: one frame in, every face's answer out, with no ROS and no training code.

Lives here: the detectors, both answering ``detect_faces(image)`` with ``faces.FrameFaces`` -
YuNet for every face behind a checked model file (``yunet_detection``, the default) and the
original's Haar cascade chain (``haar_detection``, the fallback); box geometry (``boxes``);
landmark alignment of a face crop (``face_alignment``); face tracks with stable IDs, per-face
smoothing in time and the attended face (``tracking``); crop and feature preparation
(``preprocessing``); the detect-track-align-classify loop (``pipeline``); label names
(``labels``); the mirror's expression smoothing (``mirror_smoothing``) and robot face
(``mirror_face``); the debug overlay (``debug_view``); health rules (``health``); frame sources
(``frame_source``); packaged-file lookup (``resources``); image files (``images``); camera images
as ROS carries them <-> arrays (``image_codec``) and valence/arousal of class scores
(``affect``). The synthetic test and benchmark frames are in ``tools/synthetic.py``.

May import: the standard library, numpy and cv2 (and ament_index_python, optionally, to find the
installed share directory). Never classifiers, ros or tools.
"""
