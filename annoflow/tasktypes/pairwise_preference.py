"""Pairwise preference: the expert picks the better of two responses to a prompt.

Binary (the default): labels ``a`` / ``b`` through Label Studio's Pairwise tag. Labels are
in the item's terms (``a``: the source's response A is better); each item is shown in a
seeded random order (``shuffle``), the shown data and the answer swapped back for half of
them (``swap_data`` / ``swap_answer``). Graded: ``strength_levels`` > 1 and/or ``allow_tie`` turn it into an ordinal
scale from "A much better" (``-L``) through "Tie" (``0``) to "B much better" (``L``).

Views: ``preference`` (TRL: prompt, chosen, rejected, item_id, confidence, plus ``margin``
when graded; ties are left out) and ``kto`` (TRL unpaired: prompt, completion, label).
When the source maps ``model_a`` and ``model_b`` (what wrote each response; never shown to
the experts), ``comparisons`` turns the delivered preferences into duels between them, which
the delivery ranks by Bradley–Terry into a ``rankings`` view (``qc.ranking``).
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field

from annoflow.tasktypes.base import (Question, TaskSpecBase, TaskType, View, choices_result,
                                     single_choice, xml_attr)

_TO_LABEL = {"left": "a", "right": "b"}
_TO_SIDE = {v: k for k, v in _TO_LABEL.items()}
_WORDS = {1: ["better"], 2: ["better", "much better"], 3: ["slightly better", "better", "much better"]}


class PairwiseSpec(TaskSpecBase):
    type: Literal["pairwise_preference"]
    strength_levels: int = Field(1, ge=1, le=3, description="levels per side: 1 = just A or B")
    allow_tie: bool = False
    shuffle: bool = Field(
        True, description="show each item's two responses in a seeded random order (half of "
                          "them B on the left; answers are mapped back, and the position-bias "
                          "check is then against 50%); false: A always on the left")

    @property
    def graded(self) -> bool:
        return self.strength_levels > 1 or self.allow_tie


def scale(task: PairwiseSpec) -> list[tuple[str, str]]:
    """(label, caption) from A-most to B-most."""
    words = _WORDS[task.strength_levels]
    a = [(str(-i), f"A {words[i - 1]}") for i in range(task.strength_levels, 0, -1)]
    b = [(str(i), f"B {words[i - 1]}") for i in range(1, task.strength_levels + 1)]
    return a + ([("0", "Tie")] if task.allow_tie else []) + b


class PairwisePreference(TaskType):
    name: ClassVar[str] = "pairwise_preference"
    inputs: ClassVar[tuple[str, ...]] = ("prompt", "response_a", "response_b")
    metadata: ClassVar[tuple[str, ...]] = ("model_a", "model_b")
    Spec: ClassVar = PairwiseSpec
    seconds_per_judgment: ClassVar[float] = 90.0

    def questions(self, task: PairwiseSpec) -> list[Question]:
        if task.graded:
            return [Question("preference", tuple(lab for lab, _ in scale(task)), "ordinal")]
        return [Question("preference", ("a", "b"), "nominal")]

    def sides(self, task: PairwiseSpec) -> dict[str, str]:
        if task.graded:  # negative: A (left) better; ties pick no side
            return {lab: "left" if int(lab) < 0 else "right"
                    for lab, _ in scale(task) if int(lab) != 0}
        return {"a": "left", "b": "right"}

    def shuffles(self, task: PairwiseSpec) -> bool:
        return task.shuffle

    def swap_data(self, task: PairwiseSpec, data: dict[str, str]) -> dict[str, str]:
        return {**data, "response_a": data["response_b"], "response_b": data["response_a"]}

    def swap_answer(self, task: PairwiseSpec, answer: dict[str, str]) -> dict[str, str]:
        if "preference" not in answer:
            return answer
        label = answer["preference"]
        if task.graded:  # -2 (left much better) <-> 2; a tie stays one
            flipped = str(-int(label)) if label.lstrip("-").isdigit() else label
        else:
            flipped = {"a": "b", "b": "a"}.get(label, label)
        return {**answer, "preference": flipped}

    def label_config(self, spec) -> str:
        task = spec.task
        if task.graded:
            choices = "\n    ".join(f"<Choice value={xml_attr(cap)} alias=\"{lab}\"/>"
                                   for lab, cap in scale(task))
            widget = (f'<Choices name="preference" toName="prompt" choice="single-radio" '
                      f'required="true" layout="inline">\n    {choices}\n  </Choices>')
        else:
            widget = '<Pairwise name="preference" toName="response_a,response_b"/>'
        how = ("Compare the responses, then choose on the scale below" if task.graded
               else "Click the better response")
        return self.render(spec, widget=widget, how=xml_attr(how))

    def parse_result(self, task: PairwiseSpec, result: list[dict[str, Any]]) -> dict[str, str]:
        if task.graded:  # the choice's alias is the label (a caption is accepted too)
            captions = {cap: lab for lab, cap in scale(task)}
            choice = single_choice(result, "preference")
            return {"preference": captions.get(choice, choice)} if choice is not None else {}
        for region in result:
            if region.get("type") == "pairwise":
                side = region.get("value", {}).get("selected")
                return {"preference": _TO_LABEL[side]} if side in _TO_LABEL else {}
        return {}

    def make_result(self, task: PairwiseSpec, answer: dict[str, str]) -> list[dict[str, Any]]:
        label = answer["preference"]
        if task.graded:  # Label Studio stores a choice's alias (the label) in results
            return [choices_result("preference", "prompt", [label])]
        return [{"from_name": "preference", "to_name": "response_a,response_b",
                 "type": "pairwise", "value": {"selected": _TO_SIDE[label]}}]

    def delivery_views(self, task: PairwiseSpec, items: pd.DataFrame,
                       outcome: pd.DataFrame) -> list[View]:
        agg = outcome.rename(columns={"task": "item_id"})
        df = agg.merge(items, on="item_id", how="inner", validate="one_to_one")
        if task.graded:
            score = df["label"].astype(int)
            df = df[score != 0]  # ties carry no preference
            score = score[score != 0]
            a_wins = score < 0
        else:
            a_wins = df["label"] == "a"
        pref = pd.DataFrame({
            "prompt": df["prompt"],
            "chosen": df["response_a"].where(a_wins, df["response_b"]),
            "rejected": df["response_b"].where(a_wins, df["response_a"]),
            "item_id": df["item_id"],
            "confidence": df["confidence"].astype("float64"),
        })
        if task.graded:
            pref["margin"] = score.abs().astype("int64")
        pref = pref.sort_values("item_id", kind="stable").reset_index(drop=True)
        kto = pd.concat([
            pd.DataFrame({"prompt": pref["prompt"], "completion": pref["chosen"], "label": True,
                          "item_id": pref["item_id"]}),
            pd.DataFrame({"prompt": pref["prompt"], "completion": pref["rejected"], "label": False,
                          "item_id": pref["item_id"]}),
        ]).sort_values(["item_id", "label"], ascending=[True, False], kind="stable")
        return [View("preference", pref), View("kto", kto.reset_index(drop=True))]

    def comparisons(self, task: PairwiseSpec, items: pd.DataFrame,
                    outcome: pd.DataFrame) -> pd.DataFrame | None:
        """The delivered preferences as comparisons between the models that wrote the
        responses (``left``, ``right``, ``winner``; one per item, ties and a model against
        itself left out), when the source names them; else None."""
        if not {"model_a", "model_b"} <= set(items.columns):
            return None
        df = outcome.rename(columns={"task": "item_id"}).merge(items, on="item_id", how="inner")
        if task.graded:
            score = df["label"].astype(int)
            df, a_wins = df[score != 0], score[score != 0] < 0
        else:
            a_wins = df["label"] == "a"
        pairs = pd.DataFrame({"left": df["model_a"].astype(str), "right": df["model_b"].astype(str)})
        pairs["winner"] = pairs["left"].where(a_wins, pairs["right"])
        return pairs[pairs["left"] != pairs["right"]].reset_index(drop=True)
