"""
Tools layer: offline work run from the command line, never by a node.

Lives here: the ``expression-recognizer`` command line (``cli``), training (``training``,
``cnn_training``), ``evaluation``, the ``benchmark``, dataset loaders (``datasets``) and the demo's
media writers (``media``: side-by-side views, contact sheets, GIFs).

May import: core and classifiers, plus training-only libraries (scikit-learn, matplotlib, torch)
inside the functions that need them. Never ros or rclpy.
"""
