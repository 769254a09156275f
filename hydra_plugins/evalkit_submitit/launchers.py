"""Hydra's submitit launchers (the `launchers` extra: hydra-submitit-launcher), waiting for every job.

`conf/hydra/launcher/submitit_local.yaml` and `submitit_slurm.yaml` select these classes (Hydra takes launchers only
from the `hydra_plugins` package, and imports every module there at startup: this one must import without the
extra installed, and stays light). Each job still runs in its
own process (a local subprocess, or a SLURM job) exactly as the plugin runs it; what differs is the end of
`launch()`: the plugin returns at the first job that failed or died, while the others may still run, and Hydra then
skips the end of the sweep. Here every job is waited for; a job that failed or died is noted (one line at the end,
exit code 1) and the others' results are returned, so the sweep report is written once, when all jobs have ended,
whatever order they finished in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
except ImportError:  # the `launchers` extra is not installed: evalkit.cli.preflight refuses hydra/launcher=submitit_*
    BaseSubmititLauncher = None

log = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


class _WaitingLauncher(BaseSubmititLauncher or object):
    def _executor(self):
        import submitit

        params = dict(self.params)
        init = {"folder": params.pop("submitit_folder")}
        timeouts = params.pop("max_num_timeout", None)  # an executor argument, not a job parameter
        if timeouts is not None:
            init[f"{self._EXECUTOR}_max_num_timeout"] = timeouts
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        # Parameters every submitit cluster knows keep their names; the others are this cluster's (slurm_partition).
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in common else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from evalkit.cli.app import note_job_failure

        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        arguments = []
        for i, overrides in enumerate(job_overrides):
            num = initial_job_idx + i
            log.info("\t#%d : %s", num, " ".join(filter_overrides(overrides)))
            arguments.append((list(overrides), "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()))
        jobs = self._executor().map_array(self, *zip(*arguments, strict=True))
        returns = []
        for (overrides, _, num, _, _), job in zip(arguments, jobs, strict=True):
            try:
                returns.append(job.results()[0])  # waits for this job; together, for every job
            except Exception as exc:  # the job raised, was killed, or timed out: its log says why
                note_job_failure(num, overrides, f"{_one_line(exc)} (log: {job.paths.stderr})")
                returns.append(JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None))
        return returns


if BaseSubmititLauncher is not None:

    class LocalLauncher(_WaitingLauncher):
        _EXECUTOR = "local"

    class SlurmLauncher(_WaitingLauncher):
        _EXECUTOR = "slurm"
