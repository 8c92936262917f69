"""``tools/gpu_check.py``: one PASS/FAIL line per check, a count, and the exit status, also without a GPU.

The smoke and paper-size checks are the runs ``tests/integration/test_run_pipeline.py`` and
``tests/integration/test_paper_size_smoke.py`` make on the CPU; here the tool's own parts run: the report lines,
the settings it expects on CUDA (CUDA faked), and the deterministic training step's script.
"""
import pytest


@pytest.fixture
def gpu_check(tool_module):
    return tool_module("gpu_check")


def test_no_gpu_is_a_failed_check_not_a_crash(gpu_check, capsys, tmp_path):
    code = gpu_check.main(["--device", "cpu", "--only", "cuda", "settings", "--work-dir", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0].startswith("FAIL cuda: torch sees no CUDA device")
    assert lines[1].startswith("PASS settings: deterministic=True, cudnn_benchmark=False, dist_backend=gloo")
    assert lines[-1].startswith("gpu_check: 1 of 2 checks passed on cpu")


def test_the_settings_a_gpu_training_gets(gpu_check, capsys, tmp_path):
    """Checked as the tool checks them on a GPU machine: no determinism, cuDNN autotuning, nccl."""
    assert gpu_check.main(["--device", "cuda", "--only", "settings", "--work-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "PASS settings: deterministic=False, cudnn_benchmark=True, dist_backend=nccl" in out


def test_the_deterministic_training_step_runs(gpu_check, capsys, tmp_path):
    assert gpu_check.main(["--device", "cpu", "--only", "determinism", "--work-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS determinism: loss ") and "'deterministic': True" in out
