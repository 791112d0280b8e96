"""
Core layer: one frame in, one answer out, with no ROS and no training code.

Lives here: face detection (``detection``), crop and feature preparation (``preprocessing``), the
detect-crop-classify loop (``pipeline``), label names (``labels``), smoothing, face drawing
(``face_rendering``), the debug overlay (``debug_view``), health rules (``health``), frame sources
(``frame_source``), the bundled test frames (``frames``) and packaged-file lookup (``resources``).

May import: the standard library, numpy and cv2 (and ament_index_python, optionally, to find the
installed share directory). Never classifiers, ros or tools.
"""
