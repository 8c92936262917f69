"""Inference on your own images with a finished run's models (``tools/predict.py``).

The mmdetection ``image_demo`` habit for this pipeline: any folder or list of JPEG/PNG files (any
size, grayscale or CMYK, no ILSVRC layout) goes through the models of a work dir exactly as the
stages run them on val/test (``loc``: classifier ensemble + RPN + R-CNN, top-5 classes each with
its best box; ``det``: the best Table 9 row's detectors and test mode). Nothing is written into
the work dir. Modules: ``inputs`` (which files, checked first), ``run_models`` (config and weights
of the run), ``localize`` and ``detect`` (one image each), ``outputs`` (JSON, CSV, drawn images).
"""
