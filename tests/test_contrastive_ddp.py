"""InfoNCE across processes: two CPU processes (gloo, DDP) of 2 ECGs each give the loss and the gradients of one
process with the 4 ECGs concatenated, because ECG and report embeddings are gathered with their gradients."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as torch_multiprocessing
from safetensors.torch import load_file, save_file

from modeling_supreme import SupremeModel
from modeling_supreme.modeling_supreme import gather_across_processes
from tests.tiny_models import tiny_config

WORLD_SIZE = 2
BATCH = 4
# Two tiny ranks finish in seconds; past this the test fails (and kills them) instead of hanging the suite.
JOIN_SECONDS = 180


def _model() -> SupremeModel:
    torch.manual_seed(0)
    # eval(): BatchNorm uses its running statistics, so a half batch is encoded exactly as in the full batch.
    return SupremeModel(tiny_config(objective="clip", dropout=0.0)).eval()


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    report_input_ids = torch.randint(5, 500, (BATCH, 8), generator=generator)
    return {
        "ecg_values": torch.randn(BATCH, 12, 1000, generator=generator),
        "report_input_ids": report_input_ids,
        "report_attention_mask": torch.ones_like(report_input_ids),
    }


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: parameter.grad.detach().clone()
        for name, parameter in model.named_parameters()
        if parameter.grad is not None
    }


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        model = torch.nn.parallel.DistributedDataParallel(_model(), find_unused_parameters=True)
        rows = slice(rank * BATCH // WORLD_SIZE, (rank + 1) * BATCH // WORLD_SIZE)
        local = {key: value[rows] for key, value in _batch().items()}
        output = model(**local)
        output.loss.backward()  # DDP averages the gradients over the two processes
        gathered = gather_across_processes(torch.full((1, 1), float(rank)))
        results = {"loss": output.loss.detach().reshape(1), "gathered": gathered, **_gradients(model.module)}
        save_file(results, str(Path(out_dir) / f"rank{rank}.safetensors"))
        # Both ranks leave together: a rank that tears gloo down while the other is still in its last collective
        # left that one waiting in destroy_process_group for good (seen once in CI).
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_infonce_equals_the_concatenated_batch(tmp_path):
    context = torch_multiprocessing.spawn(
        _worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE, join=False
    )
    deadline = time.monotonic() + JOIN_SECONDS
    while not context.join(timeout=5):  # raises if a rank fails
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the two ranks did not finish within {JOIN_SECONDS} s (killed)")
    assert not multiprocessing.active_children()

    reference_model = _model()
    reference = reference_model(**_batch())
    reference.loss.backward()
    expected = _gradients(reference_model)
    assert expected  # the ECG encoder, projections and logit scale train

    for rank in range(WORLD_SIZE):
        results = load_file(str(tmp_path / f"rank{rank}.safetensors"))
        torch.testing.assert_close(results.pop("gathered"), torch.tensor([[0.0], [1.0]]))
        torch.testing.assert_close(results.pop("loss")[0], reference.loss.detach(), atol=1e-5, rtol=1e-5)
        assert results.keys() == expected.keys()
        for name, gradient in expected.items():
            torch.testing.assert_close(results[name], gradient, atol=1e-5, rtol=1e-4, msg=name)


def test_single_process_gathers_nothing():
    tensor = torch.randn(3, 4, requires_grad=True)
    assert gather_across_processes(tensor) is tensor
