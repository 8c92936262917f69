"""Runtime settings of a training: deterministic on the CPU, fast (cudnn.benchmark) on CUDA unless
``--deterministic`` asks otherwise, nccl with GPUs. CUDA is faked (``torch.cuda.is_available``), so
these run without a GPU; the Runner is replaced by a recorder of what ``build_runner`` asks of it."""
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from ilsvrc_pipe.engine import runtime_settings as rs
from ilsvrc_pipe.engine import training

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_CONFIG = str(REPO_ROOT / "configs/mini/smoke.py")
TINY = dict(depth=18, width=0.125, stem_kernel=3, stem_stride=1, stem_pool=False)


@pytest.fixture(autouse=True)
def restore_torch_flags(monkeypatch):
    """Deterministic algorithms and cudnn flags are process-wide: each test leaves them as it found them."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(rs, "_requested", None)
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine with a GPU, as far as torch.cuda.is_available can tell (CUDA_VISIBLE_DEVICES='' hides it)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: os.environ.get("CUDA_VISIBLE_DEVICES") != "")


class RecordingRunner:
    """Stands in for mmengine's Runner: keeps the arguments build_runner passes."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setattr(training, "Runner", RecordingRunner)
    lines = []
    monkeypatch.setattr(rs, "print_log", lambda msg, *a, **k: lines.append(msg))

    def build(spec=None, **kwargs) -> tuple[dict, list[str]]:
        runner = training.build_runner(spec or classifier_spec(), "unused_work_dir", resume=False, **kwargs)
        return runner.kwargs, lines
    return build


def classifier_spec() -> dict:
    loader = dict(dataset=[], batch_size=4)
    return dict(model=dict(type="ResNetClassifier", backbone=TINY, num_classes=3), train_dataloader=loader,
                **training.sgd_schedule(dict(lr=0.01, milestones=[5], max_epochs=1)))


def rpn_spec(out_stage: int) -> dict:
    model = dict(type="PerClassRPN", backbone=dict(TINY, out_indices=(out_stage,)), num_classes=3,
                 anchor_scales=(8,), anchor_ratios=(1.0,), head_channels=8)
    return {**classifier_spec(), "model": model}


def settings_of(kwargs: dict) -> dict:
    return dict(deterministic=kwargs["randomness"]["deterministic"],
                cudnn_benchmark=kwargs["env_cfg"]["cudnn_benchmark"],
                backend=kwargs["env_cfg"]["dist_cfg"]["backend"],
                find_unused=kwargs["cfg"]["model_wrapper_cfg"]["find_unused_parameters"])


# -- the choice ------------------------------------------------------------------------------------
def test_settings_by_device_and_request():
    cpu = rs.runtime_settings(on_cuda=False, deterministic=None)
    assert cpu == dict(deterministic=True, warn_only=False, cudnn_benchmark=False, cublas_workspace_config=None,
                       dist_backend="gloo")
    assert rs.runtime_settings(False, True) == cpu
    assert rs.runtime_settings(False, False)["deterministic"] is False
    cuda = rs.runtime_settings(on_cuda=True, deterministic=None)
    assert cuda == dict(deterministic=False, warn_only=False, cudnn_benchmark=True, cublas_workspace_config=None,
                        dist_backend="nccl")
    assert rs.runtime_settings(True, False) == cuda
    assert rs.runtime_settings(True, True) == dict(deterministic=True, warn_only=True, cudnn_benchmark=False,
                                                   cublas_workspace_config=":4096:8", dist_backend="nccl")


# -- what build_runner asks of the Runner -------------------------------------------------------------
def test_cpu_training_stays_deterministic(recorded):
    kwargs, lines = recorded()
    assert settings_of(kwargs) == dict(deterministic=True, cudnn_benchmark=False, backend="gloo", find_unused=False)
    assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ and not lines


def test_cuda_training_is_fast_by_default_and_uses_nccl(recorded, fake_cuda):
    kwargs, lines = recorded()
    assert settings_of(kwargs) == dict(deterministic=False, cudnn_benchmark=True, backend="nccl", find_unused=False)
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    assert not lines


def test_deterministic_cuda_training_warns_where_torch_has_no_deterministic_kernel(recorded, fake_cuda):
    kwargs, lines = recorded(deterministic=True)
    assert settings_of(kwargs) == dict(deterministic=True, cudnn_benchmark=False, backend="nccl", find_unused=False)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert len(lines) == 1 and "roi_pool" in lines[0] and "roi_align" in lines[0], lines


def test_the_process_wide_request_of_the_tools_reaches_build_runner(recorded, fake_cuda):
    rs.request_determinism(True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"   # set at start-up, before any CUDA call
    kwargs, _ = recorded()
    assert settings_of(kwargs)["deterministic"] is True
    assert settings_of(recorded(deterministic=False)[0])["deterministic"] is False   # an explicit choice wins


def test_a_workspace_config_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    rs.request_determinism(True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_unused_parameter_search_only_for_models_that_declare_unused_parameters(recorded):
    assert settings_of(recorded(rpn_spec(3))[0])["find_unused"] is False
    assert settings_of(recorded(rpn_spec(2))[0])["find_unused"] is True    # conv5 exists, never runs


# -- process groups --------------------------------------------------------------------------------
@pytest.fixture
def recorded_group(monkeypatch):
    """init_process_group records its backend and stops the caller there."""
    seen = {}

    class Joined(Exception):
        pass

    def init_process_group(backend=None, **kwargs):
        seen["backend"] = backend
        raise Joined

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: seen.setdefault("device", i))
    for key, value in dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="1").items():
        monkeypatch.setenv(key, value)
    return seen, Joined


def test_init_from_env_uses_nccl_with_gpus(recorded_group, fake_cuda):
    from ilsvrc_pipe.utils.distributed import init_from_env

    seen, joined = recorded_group
    with pytest.raises(joined):
        init_from_env()
    assert seen == {"backend": "nccl", "device": 1}


@pytest.mark.parametrize("device, backend", [("auto", "nccl"), ("cpu", "gloo")])
def test_run_pipeline_device_cpu_joins_with_gloo_on_a_gpu_machine(recorded_group, fake_cuda, tool_module, tmp_path,
                                                                  device, backend):
    seen, joined = recorded_group
    with pytest.raises(joined):
        tool_module("run_pipeline").main(["--config", SMOKE_CONFIG, "--work-dir", str(tmp_path / "work"),
                                          "--launcher", "pytorch", "--device", device])
    assert seen["backend"] == backend


# -- the tools' flag -----------------------------------------------------------------------------------
@pytest.mark.parametrize("tool, extra", [("run_pipeline", []), ("train", ["--member", "resnet18_w025"])])
def test_tools_request_determinism_before_any_cuda_call(tool_module, tool, extra, tmp_path, capsys):
    code = tool_module(tool).main([*extra, "--deterministic", "--config", str(tmp_path / "missing.py")])
    assert code == 2 and "missing.py" in capsys.readouterr().err
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and rs.requested_determinism() is True


def test_train_tool_checks_the_batch_split_before_any_work(tool_module, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WORLD_SIZE", "3")
    code = tool_module("train").main(["--config", SMOKE_CONFIG, "--member", "resnet18_w025", "--launcher", "pytorch",
                                      "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2 and "error: cls.train.batch_size=16 does not split over 3 processes" in err, err
