"""The logger ``learn`` configures: Stable-Baselines3's, without a folder when nothing is written to files."""

from __future__ import annotations

import sys

from stable_baselines3.common import utils as sb3_utils
from stable_baselines3.common.logger import (
    CSVOutputFormat,
    HumanOutputFormat,
    JSONOutputFormat,
    Logger,
    TensorBoardOutputFormat,
    configure,
)


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


def sibling_logger(logger: Logger, suffix: str) -> Logger:
    """A logger with ``logger``'s output formats (those of Stable-Baselines3's ``configure``: stdout, log, json,
    csv, tensorboard; others are left out) writing into the folder ``<logger's folder><suffix>`` beside its own, so
    that a second learner's statistics (with its own step counts) are kept apart; stdout only when ``logger``
    writes no files."""
    file_kinds = {JSONOutputFormat: "json", CSVOutputFormat: "csv", TensorBoardOutputFormat: "tensorboard"}
    to_stdout, to_files = False, []
    for output in logger.output_formats:
        if isinstance(output, HumanOutputFormat) and output.file is sys.stdout:
            to_stdout = True
        elif isinstance(output, HumanOutputFormat):
            to_files.append("log")
        else:
            to_files += [name for kind, name in file_kinds.items() if isinstance(output, kind)]
    folder = logger.get_dir()
    if folder is None or not to_files:
        return Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if to_stdout else [])
    return configure(folder.rstrip("/\\") + suffix, ["stdout", *to_files] if to_stdout else to_files)
