"""Training against concurrent runs, interruptions and kills: a second run on a run folder in use is refused naming
the folder and the running process (a killed run leaves no stuck lock), a resumed run logs no step twice, and the
DataLoader workers end within 2 s of their main process, however it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from modeling_supreme.training import run_training
from modeling_supreme.training.checkpointing import list_checkpoints
from modeling_supreme.training.run_lock import OutputDirInUse
from modeling_supreme.training.tracking import read_metrics
from tests.process_helpers import children, descendants, survivors
from tests.sample_data import REPO_ROOT, script_command
from tests.training_helpers import (
    Interrupted,
    fresh_accelerate_state,  # noqa: F401 (an autouse fixture)
    stop_after,
    tiny_flags,
    tiny_options,
    training_dataset,  # noqa: F401 (a fixture)
)

SETTINGS = dict(max_steps=6, save_steps=2, eval_steps=2, save_total_limit=0)


# -- one run per output folder -------------------------------------------------------------------------------------


def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_folder_and_the_running_process(
    training_dataset, tiny_text_encoder_dir, tmp_path  # noqa: F811
):
    # Both runs reported success; the metrics log mixed them and each checkpoint held one of them.
    folder = tmp_path / "run"
    refusals: list[Exception] = []

    def start_a_second_run(state):
        if state.global_step == 1:
            try:
                run_training(tiny_options(training_dataset, folder, tiny_text_encoder_dir, **SETTINGS))
            except OutputDirInUse as error:
                refusals.append(error)

    result = run_training(tiny_options(training_dataset, folder, tiny_text_encoder_dir, **SETTINGS),
                          callbacks=[start_a_second_run])
    assert len(refusals) == 1
    assert str(folder) in str(refusals[0]) and f"pid {os.getpid()}" in str(refusals[0])
    assert result.global_step == 6
    assert [record["step"] for record in read_metrics(folder / "logs" / "supreme" / "metrics.jsonl")
            if "train/loss" in record] == list(range(1, 7))


_HOLD_THE_LOCK = """
import sys, time
from modeling_supreme.training.run_lock import OutputDirLock
lock = OutputDirLock(sys.argv[1]).acquire()  # held while this process lives
print("holding", flush=True)
time.sleep(600)
"""


def test_the_cli_refuses_a_folder_in_use_and_a_killed_runs_lock_frees_it(
    training_dataset, tiny_text_encoder_dir, tmp_path  # noqa: F811
):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_THE_LOCK, str(folder)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        options = tiny_options(training_dataset, folder, tiny_text_encoder_dir, **SETTINGS)
        refused = subprocess.run(script_command("train_accelerate.py", *tiny_flags(options)), cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0
        assert f"{folder} is in use by another run (pid {holder.pid} on host" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not list_checkpoints(folder)
    finally:
        holder.kill()  # as a crashed or killed run ends: its lock must not stay behind
        holder.wait()
    assert run_training(tiny_options(training_dataset, folder, tiny_text_encoder_dir, **SETTINGS)).global_step == 6


# -- the metrics log of a resumed run --------------------------------------------------------------------------------


def test_a_resumed_run_logs_every_step_once_as_an_uninterrupted_run(
    training_dataset, tiny_text_encoder_dir, tmp_path  # noqa: F811
):
    # Interrupted after step 5 (checkpoint at 4), the resumed run wrote step 5 twice into metrics.jsonl.
    run_training(tiny_options(training_dataset, tmp_path / "reference", tiny_text_encoder_dir, **SETTINGS))
    with pytest.raises(Interrupted):
        run_training(tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, **SETTINGS),
                     callbacks=[stop_after(5)])
    run_training(tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, resume="latest", **SETTINGS))

    def logged(folder):
        return [(record["step"], sorted(set(record) - {"time"}))
                for record in read_metrics(folder / "logs" / "supreme" / "metrics.jsonl")]

    assert logged(tmp_path / "run") == logged(tmp_path / "reference")


# -- loader workers die with their main process ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_loader_workers_end_within_two_seconds_of_their_main_process(
    training_dataset, tiny_text_encoder_dir, tmp_path, kill_signal  # noqa: F811
):
    # They lived up to 15 s (torch checks its parent every 5 s) holding their shared-memory buffers.
    options = tiny_options(training_dataset, tmp_path / "run", tiny_text_encoder_dir, max_steps=100_000,
                           save_steps=0, eval_steps=0, validation_split="none", num_workers=2)
    main = subprocess.Popen(script_command("train_accelerate.py", *tiny_flags(options)), cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while len(workers) < 2 and time.monotonic() < deadline and main.poll() is None:
            workers |= children(main.pid)
            time.sleep(0.2)
        assert len(workers) >= 2, "the run never started its loader workers"
        # The main process stopped (as in a long step): its workers fill their prefetch queues and wait for indices.
        os.kill(main.pid, signal.SIGSTOP)
        time.sleep(2.0)
        helpers = descendants(main.pid) - workers  # torch_shm_manager: frees the shared memory once its clients end
        os.kill(main.pid, kill_signal)
        os.kill(main.pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
        main.wait()
        assert not survivors(workers, timeout=2.0)
        assert not survivors(helpers, timeout=10.0)
    finally:
        for pid in survivors(workers | helpers, timeout=0):
            os.kill(pid, signal.SIGKILL)
        if main.poll() is None:
            main.kill()
            main.wait()
