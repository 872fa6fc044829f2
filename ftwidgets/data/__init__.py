"""Steps 1-3: a learner's file read (`readers`), its schema converted (`importers`), chat JSONL read and written
(`dataset`), validated (`validate`, `findings`, `quality`), cleaned (`cleaning`), what a model learns from
(`labels`), split 80/10/10 (`split`), and each example's place in the learner's file (`origins`)."""

from ..runtime.lazy import exports

__getattr__, __all__ = exports(
    __name__,
    {
        "dataset": ["DataError", "from_csv", "load_jsonl", "to_dataframe", "write_jsonl"],
        "importers": ["convert_file"],
        "labels": ["engine_label_report", "openai_label_report"],
        "split": ["split_examples", "write_split"],
        "validate": ["Rules", "validate_file"],
    },
)
