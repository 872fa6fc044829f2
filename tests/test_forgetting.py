"""What fine-tuning broke: a model that forces the task's format onto every everyday question is flagged, with the
prompts it fails and its interval; one that answers them plainly is not; the loss on everyday text is read from
echoed log-probabilities, and a backend without them is said to lack them."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS

import httpx
import openai

from ftwidgets.evaluation.forgetting import check_forgetting, general_items, general_passages
from ftwidgets.graders import Grading
from ftwidgets.metrics import format_compliance
from ftwidgets.tasks import MATH_FORMAT

PLAIN = {
    "capital of Japan": "Tokyo.",
    "only the word yes": "Yes",
    "three fruits": "Apple\nBanana\nCherry",
    "thank you": "Merci.",
    "sky": "Blue.",
    "opposite of hot": "Cold.",
    "planet": "Mars.",
    "bees": "Honey.",
    "early bird": "Worm.",
    "hello": "Hola.",
    "elephant": "An elephant.",
    "Monday": "Tuesday.",
    "spider": "Eight.",
    "apple": "APPLE",
    "freeze": "At 0 degrees.",
    "goodbye": "Goodbye, take care!",
    "happy": "Joyful.",
    "mouse": "Mice.",
    "moo": "A cow.",
    "sea": "The sea is wide and blue.",
}


class Models:
    """The base model answers plainly; the 'tuned' one opens every answer with the tutor's steps."""

    def __init__(self, loss_rises: bool = True, logprobs: bool = True):
        self.chat = NS(completions=NS(create=self.answer))
        self.completions = NS(create=self.score)
        self.loss_rises, self.logprobs = loss_rises, logprobs

    def answer(self, model, messages, **_):
        question = messages[-1]["content"]
        plain = next(text for key, text in PLAIN.items() if key.lower() in question.lower())
        text = plain if model == "base" else "Step 1: Align the numbers by place value.\nAnswer: 4"
        return NS(choices=[NS(message=NS(content=text), finish_reason="stop")], usage=None)

    def score(self, model, prompt, **_):
        if not self.logprobs:
            response = httpx.Response(404, request=httpx.Request("POST", "http://backend/v1/completions"))
            raise openai.NotFoundError("completions are not served here", response=response, body=None)
        shift = 0.4 if (model != "base" and self.loss_rises) else 0.0
        assert isinstance(prompt, list)  # every passage in one request
        choices = [
            NS(
                index=i,
                logprobs=NS(token_logprobs=[None] + [-2.0 - shift - 0.01 * (k % 3) for k in range(len(t.split()))]),
            )
            for i, t in enumerate(prompt)
        ]
        return NS(choices=choices)


def forgetting_of(models: Models, tuned: str, cache_dir, system: str | None = None, task_format=None):
    """The check on the stand-in models: "base" answers plainly, any other name forces the tutor's format."""
    with Grading() as grading:
        return check_forgetting(
            models,
            {"base": "base", "fine_tuned": tuned},
            system=system,
            grading=grading,
            cache_dir=cache_dir,
            task_format=task_format,
            resamples=2000,
        )


def test_a_model_that_forces_its_format_on_everything_is_flagged(tmp_path):
    system = "You are a math tutor. Explain step-by-step."
    assert all(item.messages[0]["content"] == system for item in general_items(system))
    found = forgetting_of(Models(), "tuned", tmp_path, system, format_compliance(MATH_FORMAT))
    results = {r.metric: r for r in found.comparison.results}
    assert results["general prompts"].baseline == 1.0 and results["general prompts"].candidate < 0.3
    assert results["out of the task's format"].candidate == 0.0 and results["out of the task's format"].p_value < 0.001
    worse = found.worse()
    assert any(w.startswith("general prompts 100% -> ") for w in worse) and any(
        "loss on everyday text" in w for w in worse
    )
    assert found.loss["passages"] == len(general_passages()) == 15 and found.loss["delta"] > 0.3
    assert found.sentence().startswith("What fine-tuning broke, on 20 everyday prompts:")
    assert re.search(r"loss on everyday text: base 2\.\d\d, fine-tuned 2\.\d\d", found.sentence())


def test_a_model_that_still_answers_plainly_is_not_flagged_and_a_backend_without_logprobs_says_so(tmp_path):
    found = forgetting_of(Models(logprobs=False), "base", tmp_path)
    assert found.worse() == [] and found.sentence().startswith("Nothing measured got worse beyond chance")
    assert "not measured (the backend gives no log-probabilities of a text" in found.sentence()
