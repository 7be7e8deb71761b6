"""Dataset cards: the `README.md` whose `configs:` YAML block makes a folder of Parquet shards loadable with
`datasets.load_dataset(folder_or_repo_id)` (loading scripts are not supported by datasets >= 4).

Shards of split `s` are named `data/{s}-{index:05d}.parquet`; the card maps each split to the glob
`data/{s}-*.parquet` (`data_files_pattern`), so a card written before the last shard exists stays valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Features, SplitInfo
from huggingface_hub import DatasetCard, DatasetCardData

DATA_DIR = "data"
DEFAULT_CONFIG = "default"


def shard_file_name(split: str, index: int) -> str:
    """Path, relative to the dataset folder, of shard `index` of `split`: `data/train-00003.parquet`."""
    return f"{DATA_DIR}/{split}-{index:05d}.parquet"


def data_files_pattern(split: str) -> str:
    """The glob that the card's `configs:` block gives for `split`; it matches every `shard_file_name`."""
    return f"{DATA_DIR}/{split}-*.parquet"


@dataclasses.dataclass(frozen=True)
class DatasetDescription:
    """What a card says about a dataset besides its columns and splits.

    Attributes:
        pretty_name: title of the card.
        body: Markdown after the title: source, how it was built, label definitions.
        license: Hub license id of the source data (e.g. "cc-by-4.0", "other").
        citation: BibTeX or plain-text citations of the source.
        tags: Hub tags.
        extra_metadata: further YAML keys, e.g. `{"label_names": {"super_class": [...]}}`.
    """

    pretty_name: str
    body: str
    license: str | None = None
    citation: str | None = None
    tags: tuple[str, ...] = ("ecg", "medical", "time-series")
    extra_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def card_metadata(
    description: DatasetDescription,
    features: Features,
    splits: Sequence[SplitInfo],
    config_name: str = DEFAULT_CONFIG,
) -> DatasetCardData:
    """The YAML header of the card: `configs:` (split -> shard glob), `dataset_info:` (features, split sizes),
    license, tags and `description.extra_metadata`."""
    data_files = [{"split": split.name, "path": data_files_pattern(split.name)} for split in splits]
    dataset_info = {
        "config_name": config_name,
        "features": features._to_yaml_list(),
        "splits": [
            {"name": split.name, "num_bytes": int(split.num_bytes), "num_examples": int(split.num_examples)}
            for split in splits
        ],
        "dataset_size": int(sum(split.num_bytes for split in splits)),
    }
    return DatasetCardData(
        pretty_name=description.pretty_name,
        license=description.license,
        tags=list(description.tags),
        configs=[{"config_name": config_name, "data_files": data_files}],
        dataset_info=dataset_info,
        **dict(description.extra_metadata),
    )


def _columns_table(features: Features) -> str:
    rows = ["| column | type |", "| --- | --- |"]
    rows += [f"| `{name}` | `{feature!r}` |" for name, feature in features.items()]
    return "\n".join(rows)


def card_text(
    description: DatasetDescription,
    features: Features,
    splits: Sequence[SplitInfo],
    config_name: str = DEFAULT_CONFIG,
    build_notes: str = "",
) -> str:
    """The full README.md: YAML header, title, `description.body`, splits, columns, build notes, citation."""
    metadata = card_metadata(description, features, splits, config_name)
    split_lines = "\n".join(f"- `{split.name}`: {split.num_examples} records" for split in splits)
    sections = [
        f"---\n{metadata.to_yaml()}\n---",
        f"# {description.pretty_name}",
        description.body.strip(),
        f"## Splits\n\n{split_lines}",
        f"## Columns\n\n{_columns_table(features)}",
        "Load with `datasets.load_dataset(<this folder or repo id>)`; `ecg` is (12, T), leads in the order of "
        "`lead_names`, stored as the Build section says.",
    ]
    if build_notes:
        sections.append(f"## Build\n\n{build_notes.strip()}")
    if description.citation:
        sections.append(f"## Citation\n\n```\n{description.citation.strip()}\n```")
    return "\n\n".join(sections) + "\n"


def write_dataset_card(
    folder: str | Path,
    description: DatasetDescription,
    features: Features,
    splits: Sequence[SplitInfo],
    config_name: str = DEFAULT_CONFIG,
    build_notes: str = "",
) -> Path:
    """Write `folder/README.md` so that `datasets.load_dataset(folder)` finds the splits' shards.

    Args:
        folder: the dataset folder (shards in `folder/data/`).
        description: title, prose, license, citation, extra YAML keys.
        features: the columns of every shard.
        splits: name, number of records and Arrow size in bytes of each split, in the order the card lists
            them. Splits without records must be left out (a `configs:` entry whose glob matches nothing
            fails to load).
        config_name: name of the configuration (subset).
        build_notes: Markdown on how the build went (counts of rejected records...).

    Returns:
        The path of the written card.
    """
    if not splits:
        raise ValueError(f"{folder}: no split has any record; there is no dataset to describe")
    path = Path(folder) / "README.md"
    text = card_text(description, features, splits, config_name, build_notes)
    DatasetCard(text).save(path)
    return path
