"""The logger ``learn`` configures: Stable-Baselines3's, without a folder when nothing is written to files."""

from __future__ import annotations

import sys

from stable_baselines3.common import utils as sb3_utils
from stable_baselines3.common.logger import HumanOutputFormat, Logger


def configure_logger(
    verbose: int, tensorboard_log: str | None, tb_log_name: str, reset_num_timesteps: bool = True
) -> Logger:
    """Stable-Baselines3's ``configure_logger`` (stdout when ``verbose >= 1``, TensorBoard under
    ``<tensorboard_log>/<tb_log_name>_<id>`` when given), except that without ``tensorboard_log`` the logger has no
    folder: Stable-Baselines3's creates an empty ``$TMPDIR/SB3-<date>`` (or ``$SB3_LOGDIR``) folder on every call
    although it writes no file there."""
    if tensorboard_log is not None:
        return sb3_utils.configure_logger(verbose, tensorboard_log, tb_log_name, reset_num_timesteps)
    return Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if verbose >= 1 else [])
