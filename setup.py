"""Package metadata of ilsvrc_pipe. Install with ``pip install -e ".[test]"``."""
from setuptools import find_packages, setup

setup(
    name="ilsvrc_pipe",
    version="0.1.0",
    description="ILSVRC 2015 ResNet localization and detection pipeline (He et al., appendices A-C)",
    packages=find_packages(include=["ilsvrc_pipe", "ilsvrc_pipe.*"]),
    python_requires=">=3.10",
    install_requires=[
        # torch is unpinned on purpose: a pinned CPU-only wheel breaks torchvision ops
        "torch",
        "torchvision",
        "mmengine>=0.10,<0.11",
        "mmcv-lite",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "tqdm",
        "matplotlib",
        "Pillow",
    ],
    extras_require={"test": ["pytest", "pytest-timeout", "pycocotools", "ruff"]},
)
