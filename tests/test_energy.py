"""Energy figures: null with the reason where NVML cannot measure, idle power subtracted where it can."""

from __future__ import annotations

import pytest
import torch

from evalkit.run import energy
from evalkit.run.energy import EnergyMeter


def test_off_cuda_the_figures_are_null_with_the_reason():
    meter = EnergyMeter(torch.device("cpu"))
    meter.start()
    out = meter.stop().to_dict(decoded_tokens=100, samples=4)
    assert out["joules"] is None and out["j_per_decoded_token"] is None and out["j_per_sample"] is None
    assert out["reason"] == "energy is measured on CUDA devices only (this run is on cpu)"


class FakeNvml:
    """Counter in mJ rising 30 J between the two reads; 50 W idle."""

    class NVMLError(Exception):
        pass

    def __init__(self):
        self.reads = iter([1_000_000, 1_030_000])

    def nvmlDeviceGetPowerUsage(self, handle):
        return 50_000

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return next(self.reads)


def test_idle_power_times_the_window_is_subtracted(monkeypatch):
    monkeypatch.setattr(energy, "_nvml_handle", lambda device: (FakeNvml(), object()))
    meter = EnergyMeter(torch.device("cpu"), idle_s=0.05)
    meter.start()
    window = meter.stop()
    assert window.total_joules == pytest.approx(30.0) and window.idle_w == 50.0
    assert window.joules == pytest.approx(30.0 - 50.0 * window.window_s)
    out = window.to_dict(decoded_tokens=10, samples=2)
    assert out["j_per_decoded_token"] == pytest.approx(window.joules / 10) and "reason" not in out


def test_without_nvidia_ml_py_the_reason_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with pytest.raises(RuntimeError, match=r"nvidia-ml-py is not installed \(pip install 'evalkit\[energy\]'\)"):
        energy._nvml_handle(torch.device("cuda"))
