"""What a simulated expert answers, per task type (voted types vs free text).

The truth file of a simulation profile holds, per item, either ``answer`` (a
``{field: label}`` object for voted types) or ``text`` (a reference text for free-text
types). An expert answers each field correctly with their accuracy; a wrong answer on an
ordinal scale is usually one step off, on a nominal one any other label. Spammers answer at
random; on free-text work they submit empty, tiny or copied text.
"""
from __future__ import annotations

import random
from typing import Any

from annoflow.tasktypes import TaskType

OPENINGS = ["", "Here is how I would approach it.", "Short answer first, then the detail.",
            "From experience:", "The key point:", "In practice:", "Let me be precise."]
#: each simulated expert's own way of finishing a text, so honest authors never collide
STYLES = ["I would add a test for it.", "Measure before optimising.", "Document the choice.",
          "Review it with a colleague.", "Keep it simple first.", "Watch the error paths.",
          "Mind the resource limits.", "Prefer the standard library.", "Log what matters.",
          "Automate the check in CI.", "Think about the failure modes.", "Name things clearly."]


def _wrong(rng: random.Random, labels: tuple[str, ...], true: str, ordinal: bool) -> str:
    others = [lab for lab in labels if lab != true]
    if ordinal and rng.random() < 0.8:
        i = labels.index(true)
        near = [labels[j] for j in (i - 1, i + 1) if 0 <= j < len(labels)]
        return rng.choice(near)
    return rng.choice(others)


def voted_answer(tt: TaskType, task: Any, truth: dict[str, str], *, accuracy: float,
                 spammer: bool, rng: random.Random) -> dict[str, str]:
    out = {}
    for q in tt.questions(task):
        if spammer:
            out[q.name] = rng.choice(q.labels)
        elif rng.random() < accuracy:
            out[q.name] = truth[q.name]
        else:
            out[q.name] = _wrong(rng, q.labels, truth[q.name], q.level == "ordinal")
    return out


def text_answer(tt: TaskType, task: Any, reference: str, prompt: str, *, accuracy: float,
                spammer: bool, style: int, rng: random.Random) -> dict[str, str]:
    (q,) = tt.questions(task)
    own = STYLES[style % len(STYLES)]
    if spammer or rng.random() > accuracy:
        # a required text box cannot be sent blank from the labeling UI
        text = rng.choice([".", "ok", "see above", prompt, "I am not sure."])
    else:
        lines = reference.splitlines()
        if len(lines) > 1:  # a rubric: the same criteria in the expert's own order and words
            rng.shuffle(lines)
            lines[0] = f"{lines[0]}; {own.lower().rstrip('.')}"
            text = "\n".join(lines)
        else:
            text = f"{rng.choice(OPENINGS)} {reference} {own}".strip()
    return {q.name: text}


def answer(tt: TaskType, task: Any, truth: dict[str, Any], item: dict[str, str], *,
           accuracy: float, spammer: bool, style: int, rng: random.Random) -> dict[str, str]:
    if tt.free_text:
        return text_answer(tt, task, truth["text"], item.get("prompt", ""), accuracy=accuracy,
                           spammer=spammer, style=style, rng=rng)
    return voted_answer(tt, task, truth["answer"], accuracy=accuracy, spammer=spammer, rng=rng)


def review(tt: TaskType, task: Any, truth: dict[str, Any], shown: str, item: dict[str, str], *,
           accuracy: float, style: int, rng: random.Random,
           reject_share: float = 0.0) -> tuple[str, dict[str, str] | None]:
    """A reviewer's verdict on what is to be delivered (``shown``, as the review task shows
    it), and their correction: on voted work they answer the item themselves (with their
    accuracy) and accept what agrees with them, else reject it ``reject_share`` of the
    time (to be judged again) and correct it to their answer otherwise; on free
    text they accept a text that says what the reference says (mistakenly rejecting it
    1 - accuracy of the time), and correct a poor one with their own text or reject it."""
    if tt.free_text:
        reference = truth["text"]
        good = all(line in shown for line in reference.splitlines() if line.strip())
        if good:
            return ("accept", None) if rng.random() < accuracy else ("reject", None)
        if rng.random() < 0.5:
            return "correct", text_answer(tt, task, reference, item.get("prompt", ""),
                                          accuracy=1.0, spammer=False, style=style, rng=rng)
        return "reject", None
    delivered = dict(line.split(": ", 1) for line in shown.splitlines() if ": " in line)
    own = voted_answer(tt, task, truth["answer"], accuracy=accuracy, spammer=False, rng=rng)
    if own == delivered:
        return "accept", None
    return ("reject", None) if rng.random() < reject_share else ("correct", own)
