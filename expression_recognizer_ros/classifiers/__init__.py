"""
Classifier layer: the model backends behind one contract.

Lives here: ``base`` (the ``Classifier`` contract every backend keeps, ``Prediction``, the manifest
reader and writer), one module per backend (``ensemble`` with ``fisherface``, ``cnn``, ``svm``) and
``registry``, which loads a model directory by its manifest's ``backend``.

May import: core, numpy, scipy and cv2 (scikit-learn only inside the SVM's training function).
Never ros or tools, never rclpy or torch. Backends import ``base``, ``registry`` imports the
backends; nothing imports ``registry`` back, so there is no import circle.
"""
