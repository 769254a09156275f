"""GPU energy from NVML's cumulative energy counter, read around a timed window, idle power subtracted.

`nvidia-ml-py` (the `energy` extra, module `pynvml`) is imported only when a CUDA run asks for energy. The counter
(`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver loaded; Volta and newer) is read at the start and the end
of a window; the GPU's idle power, sampled before the window, times the window's length is subtracted, so the figure
is the energy the work added. The counter updates every few tens of ms, so a window should last seconds: evalkit
reads it around a run's whole evaluation loop, not around single requests.

Where energy cannot be measured the figures are None with the reason (never 0: 0 J would read as a measurement).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from evalkit.phi3v.timing import synchronize


@dataclass
class EnergyWindow:
    joules: float | None  # energy over the window minus idle power x its length
    total_joules: float | None  # what the counter gained
    idle_w: float | None
    window_s: float | None
    reason: str | None = None  # why joules is None

    def to_dict(self, decoded_tokens: int | None = None, samples: int | None = None) -> dict:
        def per(n: int | None) -> float | None:
            return self.joules / n if self.joules is not None and n else None

        out = {
            "joules": self.joules,
            "total_joules": self.total_joules,
            "idle_w": self.idle_w,
            "window_s": self.window_s,
            "j_per_decoded_token": per(decoded_tokens),
            "j_per_sample": per(samples),
            "source": "NVML total energy counter, idle power subtracted",
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def _nvml_handle(device: torch.device):
    """(pynvml module, handle) for a CUDA device, or raise RuntimeError with the reason."""
    if device.type != "cuda":
        raise RuntimeError(f"energy is measured on CUDA devices only (this run is on {device.type})")
    try:
        import pynvml
    except ImportError:
        raise RuntimeError("nvidia-ml-py is not installed (pip install 'evalkit[energy]')") from None
    try:
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        # NVML numbers GPUs as the driver does; CUDA_VISIBLE_DEVICES renumbers them for torch: map through the UUID.
        uuid = str(torch.cuda.get_device_properties(index).uuid)
        handle = None
        for i in range(pynvml.nvmlDeviceGetCount()):
            candidate = pynvml.nvmlDeviceGetHandleByIndex(i)
            found = pynvml.nvmlDeviceGetUUID(candidate)
            found = found.decode() if isinstance(found, bytes) else found
            if found.removeprefix("GPU-") == uuid.removeprefix("GPU-"):
                handle = candidate
        if handle is None:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # not supported before Volta: raises here
    except pynvml.NVMLError as exc:
        raise RuntimeError(f"NVML energy counter unavailable: {exc}") from None
    return pynvml, handle


class EnergyMeter:
    """`start()` / `stop() -> EnergyWindow`; idle power sampled at `start()` (for `idle_s`) before the window."""

    def __init__(self, device: torch.device | str, idle_s: float = 1.0):
        self.device = torch.device(device)
        self.idle_s = idle_s
        self.reason: str | None = None
        try:
            self._nvml, self._handle = _nvml_handle(self.device)
        except RuntimeError as exc:
            self._nvml = self._handle = None
            self.reason = str(exc)
        self._start: tuple[float, float] | None = None
        self.idle_w: float | None = None

    def _idle_power_w(self) -> float:
        synchronize(self.device)
        samples = []
        end = time.perf_counter() + self.idle_s
        while time.perf_counter() < end:
            samples.append(self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0)
            time.sleep(0.05)
        return statistics.median(samples)

    def start(self) -> None:
        if self._handle is None:
            return
        self.idle_w = self._idle_power_w()
        synchronize(self.device)
        self._start = (time.perf_counter(), self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0)

    def stop(self) -> EnergyWindow:
        if self._handle is None or self._start is None:
            return EnergyWindow(None, None, None, None, self.reason or "the energy window was never started")
        synchronize(self.device)
        t1, e1 = time.perf_counter(), self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        t0, e0 = self._start
        window, total = t1 - t0, e1 - e0
        return EnergyWindow(total - self.idle_w * window, total, self.idle_w, window)
