"""The ring of shared buffers through which DataLoader workers hand over ECG values (training/batch_ring.py)."""

from __future__ import annotations

import pytest
import torch

from modeling_supreme.training import batch_ring
from modeling_supreme.training.batch_ring import WorkerBatchRing, ring_slots


def _collate(rows: list[int]) -> dict[str, torch.Tensor]:
    return {"ecg_values": torch.tensor(rows, dtype=torch.float32)[:, None].repeat(1, 4), "labels": torch.tensor(rows)}


def test_in_the_main_process_batches_pass_unchanged():
    ring = WorkerBatchRing(_collate, slots=2)
    batch = ring([1, 2])
    assert not batch["ecg_values"].is_shared()
    assert ring._buffers == {}


def test_a_worker_reuses_its_shared_buffers_every_slots_batches(monkeypatch):
    monkeypatch.setattr(batch_ring.torch.utils.data, "get_worker_info", lambda: object())
    ring = WorkerBatchRing(_collate, slots=3)
    batches = [ring([index, index + 1]) for index in range(7)]
    pointers = [batch["ecg_values"].data_ptr() for batch in batches]
    assert all(batch["ecg_values"].is_shared() for batch in batches)
    assert len(set(pointers[:3])) == 3 and pointers[3:6] == pointers[:3] and pointers[6] == pointers[0]
    assert torch.equal(batches[5]["ecg_values"], _collate([5, 6])["ecg_values"])  # the 3 newest are intact
    assert torch.equal(batches[6]["labels"], torch.tensor([6, 7]))
    # every tensor of a batch is a view of its slot's one buffer: one handle to send, whatever the batch holds
    assert batches[6]["labels"].untyped_storage().data_ptr() == batches[6]["ecg_values"].untyped_storage().data_ptr()
    assert batches[6]["labels"].is_shared() and batches[6]["labels"].dtype == torch.int64
    odd = ring([1, 2, 3])  # a batch of another shape gets a buffer of its own
    assert odd["ecg_values"].shape == (3, 4) and torch.equal(odd["ecg_values"], _collate([1, 2, 3])["ecg_values"])


def test_slots_cover_what_is_in_flight_and_held():
    assert ring_slots(4) >= 4 + 2
    with pytest.raises(ValueError, match="at least one slot"):
        WorkerBatchRing(_collate, slots=0)


def test_batches_through_a_worker_equal_those_of_the_main_process():
    dataset = list(range(40))
    plain = list(torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=_collate))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=4, collate_fn=WorkerBatchRing(_collate, ring_slots(2)), num_workers=1, prefetch_factor=2
    )
    iterator = iter(loader)
    workers = list(iterator._workers)
    received = [batch["ecg_values"].clone() for batch in iterator]
    assert all(torch.equal(got, want["ecg_values"]) for got, want in zip(received, plain))
    assert len(received) == len(plain)
    for worker in workers:  # the worker ends with its epoch
        worker.join(timeout=10)
    assert workers and not [worker for worker in workers if worker.is_alive()]


class _StrategyOfTheWorker(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> str:
        return torch.multiprocessing.get_sharing_strategy()


def test_training_workers_send_by_file_name_and_leave_the_main_process_as_it_was():
    import multiprocessing

    from modeling_supreme.training.data import send_tensors_by_file_name

    before = torch.multiprocessing.get_sharing_strategy()
    loader = torch.utils.data.DataLoader(_StrategyOfTheWorker(), batch_size=None, num_workers=1,
                                         worker_init_fn=send_tensors_by_file_name)
    assert list(loader) == ["file_system", "file_system"]
    assert torch.multiprocessing.get_sharing_strategy() == before
    for child in multiprocessing.active_children():  # a non-persistent worker ends with its epoch
        child.join(timeout=10)
    assert not multiprocessing.active_children()
