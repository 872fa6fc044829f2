"""Step 6 and the preference round: the blind A/B review store (`review_store`), the model judge checked against
the persons' reviews (`judge`), and step 8's round from sampled answers to a DPO job (`preference_round`)."""

from ..runtime.lazy import exports

__getattr__, __all__ = exports(
    __name__,
    {
        "review_store": [
            "ReviewStore",
            "export_review",
            "people",
            "preference_records",
            "queued_items",
            "review_items",
            "rule_review",
            "summarize",
        ],
        "judge": ["check_judge", "judge_check_note", "judge_items", "pairwise_grader"],
        "preference_round": ["check_apart", "gather_pairs", "preference_prompts", "round_verdict", "write_pairs"],
    },
)
