"""
``train-cnn``'s compact CNN, trained with PyTorch (training only) and exported to ONNX:
``network`` (layers, weights), ``data`` (FER+, soft labels, packs, augmentation),
``calibration`` (temperature, class offsets, ``recalibrate``) and ``training`` (``train_cnn``).
"""
