"""Print the Markdown table of the training options (flags, defaults, help) generated from their argument groups.

`docs/training.md` holds this text between its `<!-- training-options -->` markers (`tests/test_training_options.py`
checks it): after changing an option, paste the output there.
"""

from modeling_supreme.training.options import option_table

if __name__ == "__main__":
    print(option_table(), end="")
