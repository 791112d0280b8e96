"""
Core layer: one frame in, every face's answer out, with no ROS and no training code.

Lives here: the original's Haar face detection (``detection``), YuNet detection of every face
behind a checked model file (``face_detection``), landmark alignment of a face crop
(``face_alignment``), face tracks with stable IDs, per-face smoothing in time and the attended face
(``tracking``), composed multi-person test streams with ground truth (``face_streams``), crop and
feature preparation (``preprocessing``), the detect-track-align-classify loop (``pipeline``), label
names (``labels``), the robot face's smoothing (``smoothing``), face drawing (``face_rendering``),
the debug overlay (``debug_view``), health rules (``health``), frame sources (``frame_source``),
the bundled test frames (``frames``), packaged-file lookup (``resources``), camera images as ROS
carries them <-> arrays (``image_codec``) and valence/arousal of class scores (``affect``).

May import: the standard library, numpy and cv2 (and ament_index_python, optionally, to find the
installed share directory). Never classifiers, ros or tools.
"""
