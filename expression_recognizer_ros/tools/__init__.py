"""
Tools layer: offline work run from the command line, never by a node (save one piece the camera
node borrows: ``bag_reading``'s bag source).

Lives here: the ``expression-recognizer`` command line (``cli``), training (``training``,
the ``cnn`` package), ``evaluation``, the ``benchmark``, dataset loaders (``datasets``), the demo's
media writers (``media``: side-by-side views, contact sheets, GIFs) and recorded sessions (``bag``,
``bag_reading``, ``bag_writing``: bags in; annotated bags, CSV and timelines out).

May import: core and classifiers, plus optional libraries (scikit-learn, matplotlib, torch,
rosbags) inside the functions that need them. Never ros or rclpy.
"""
