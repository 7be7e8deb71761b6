"""Pre-train SuPreME on a dataset built by datasets_scripts/ (folder or Hub id) with its entity vocabulary.

    accelerate launch train_accelerate.py --config configs/demo.yaml
    accelerate launch --config_file configs/accelerate/8gpu_ddp.yaml train_accelerate.py --config run.yaml \
        --max-steps 20000
    accelerate launch train_accelerate.py --config run.yaml --resume          # continue from the newest checkpoint

Every option is a flag and a key of the --config YAML file (flags override the file); `--help` lists them.
The precision is the launcher's (`accelerate launch --mixed_precision bf16`, or `mixed_precision:` of an accelerate
config file) unless `--mixed-precision` is given; training_summary.json records the one used.
The output folder ends as a model folder for `pipeline("ecg-zero-shot", model=folder)`; `--push-to-hub REPO`
publishes it.
"""

import logging
import os
import sys

from transformers.utils import logging as transformers_logging

from modeling_supreme.training import parse_training_options, run_training
from modeling_supreme.training.run_lock import OutputDirInUse


def main() -> None:
    options = parse_training_options()
    # accelerate launch sets RANK; only the main process reports progress at INFO level.
    is_main_process = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if is_main_process else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per saved file otherwise
    transformers_logging.disable_progress_bar()  # weight loading / writing bars between training steps
    try:
        result = run_training(options)
    except OutputDirInUse as error:
        sys.exit(f"train_accelerate.py: error: {error}")
    if is_main_process:
        best = ""
        if result.best_step:
            best = f", best validation mean AUROC {result.best_metric:.2f} at step {result.best_step}"
        print(f"Trained {result.global_step} steps on {result.world_size} process(es){best}.")
        print(f"Model folder ({result.final_weights} weights): {result.output_dir}")
        if result.hub_url:
            print(f"Pushed to {result.hub_url}")


if __name__ == "__main__":
    main()
