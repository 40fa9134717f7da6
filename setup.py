"""Packaging for sb3-marl.

Torch is required as ``torch>=2.3``; ``scripts/setup.sh`` installs the pinned CPU wheel first on
machines without torch so that pip never pulls a multi-GB CUDA build.  The real StarCraft II backend
is the ``smac`` extra, installed from oxwhirl's Git repository: the PyPI package named ``smac`` is
SMAC3, an unrelated hyperparameter optimiser, and is never a dependency.
"""

from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec((Path(__file__).parent / "sb3_marl" / "version.py").read_text(), version)

setup(
    name="sb3-marl",
    version=version["__version__"],
    description="Stable-Baselines3-style robust cooperative multi-agent RL (QMIX and robust variants) on SMAC",
    long_description=(Path(__file__).parent / "README.md").read_text(),
    long_description_content_type="text/markdown",
    # zoo.hyperparams is the repository's hyperparams/ folder, shipped inside the zoo package for wheel installs.
    packages=[*find_packages(include=["sb3_marl", "sb3_marl.*", "zoo"]), "zoo.hyperparams"],
    package_dir={"zoo.hyperparams": "hyperparams"},
    package_data={"zoo.hyperparams": ["*.yml"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.3",
        "numpy>=1.24",
        "gymnasium>=0.29",
        "stable-baselines3>=2.7",  # ConstantSchedule / LinearSchedule
        "tensorboard>=2.12",
        "pyyaml>=6.0",
        "optuna>=3.5",
        "sqlalchemy>=1.4.2",  # the tuning's RDB storage checks (also an optuna dependency)
        "tqdm",
        "rich",
        "matplotlib>=3.7",
        "pillow>=10.1",  # replay frames: ImageFont.load_default(size)
        "imageio>=2.30",
        "imageio-ffmpeg",  # MP4 replays; ships its own ffmpeg binary inside the wheel
        "pandas",
        "filelock",
        "psutil",  # the replay buffer's memory check, as Stable-Baselines3's
    ],
    extras_require={
        # dask[distributed]: the test of zoo/benchmark.py --executor dask runs instead of skipping
        "dev": ["pytest>=7", "pytest-timeout", "ruff==0.17.6", "mypy", "psycopg2-binary", "dask[distributed]"],
        # oxwhirl's SMAC from Git (needs a StarCraft II install); never the PyPI name "smac" (SMAC3).
        "smac": ["SMAC @ git+https://github.com/oxwhirl/smac.git"],
        "postgres": ["psycopg2-binary"],
        # zoo/benchmark.py --executor dask (a Dask cluster, e.g. dask_jobqueue.SLURMCluster)
        "cluster": ["dask[distributed]"],
    },
    entry_points={
        "console_scripts": [
            "sb3-marl-train=zoo.train:main",
            "sb3-marl-enjoy=zoo.enjoy:main",
        ]
    },
)
