"""The project's paraphrase sets: JSON files {task: {label column: [wordings]}} that `evaluation.robustness`
loads by name (`PACKAGED_PARAPHRASES`; how and when each set was written is told there). A package, so that its files
are package data like the rest."""
