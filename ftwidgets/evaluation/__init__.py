"""Step 5 and the facts lesson: answers generated and compared with paired statistics (`evaluate`), the few-shot
baseline and the verdict on whether fine-tuning was worth it (`worth_it`), what fine-tuning broke (`forgetting`),
and retrieval as the strong baseline for facts (`retrieval`). `evaluate` and `worth_it` are modules here, so their
functions of the same name are imported from them."""

from ..runtime.lazy import exports

__getattr__, __all__ = exports(
    __name__,
    {
        "evaluate": ["Evaluation", "compare", "held_out_test_items"],
        "forgetting": ["check_forgetting"],
        "retrieval": ["DocumentIndex", "evaluate_with_retrieval", "fact_table", "question_items", "questions_by_kind"],
        "worth_it": ["few_shot_system"],
    },
)
