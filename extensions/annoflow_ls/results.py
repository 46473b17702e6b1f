"""Is an expert's answer an answer to this project's questions?

Label Studio checks only that a submission's ``result`` is a list, so an empty or made-up
answer would be stored and count toward the task's overlap, and the campaign would wait
forever for a judgment it will never get. This checks the result against the project's
label config: every entry names one of its questions, with the question's type and a
value of the right shape (choices among the offered ones, a rating within the scale,
text that is text), and every required question is answered.
"""
from __future__ import annotations

from typing import Any

from lxml import etree


def _required(label_config: str) -> set[str]:
    try:
        xml = etree.fromstring(label_config.encode(), parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return set()
    return {el.get("name") for el in xml.iter() if isinstance(el.tag, str)
            and el.get("name") and str(el.get("required", "")).lower() == "true"}


def _value_problem(kind: str, value: dict[str, Any], control: dict[str, Any], attrs: dict) -> str | None:
    labels = set(control.get("labels") or [])
    if kind == "choices":
        chosen = value.get("choices")
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            return "choices must be a list of the offered options"
        if not chosen and str(attrs.get("required", "")).lower() == "true":
            return "choose an option"
        if labels and not set(chosen) <= labels:
            return f"{sorted(set(chosen) - labels)} are not among the offered options"
    elif kind == "rating":
        r = value.get("rating")
        top = int(attrs.get("maxrating", 5) or 5)
        if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= top:
            return f"rating must be a whole number from 1 to {top}"
    elif kind == "textarea":
        text = value.get("text")
        if not isinstance(text, list) or not text or not all(isinstance(t, str) and t.strip() for t in text):
            return "text must be a non-empty list of non-blank strings"
    elif kind == "number":
        if not isinstance(value.get("number"), (int, float)) or isinstance(value.get("number"), bool):
            return "number must be a number"
    return None


def _attrs(label_config: str, name: str) -> dict[str, str]:
    try:
        xml = etree.fromstring(label_config.encode(), parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return {}
    for el in xml.iter():
        if isinstance(el.tag, str) and el.get("name") == name:
            return {k.lower(): v for k, v in el.attrib.items()}
    return {}


def problem(project: Any, result: Any) -> str | None:
    """Why ``result`` is not a valid answer in ``project`` (None when it is)."""
    if not isinstance(result, list) or not result:
        return "the answer is empty: answer the questions before submitting"
    parsed = project.get_parsed_config() or {}
    for i, entry in enumerate(result):
        if not isinstance(entry, dict):
            return f"result[{i}] must be an object"
        name = entry.get("from_name")
        control = parsed.get(name) if isinstance(name, str) else None
        if control is None:
            return f"result[{i}]: {name!r} is not a question of this project"
        targets = str(entry.get("to_name", "")).split(",")  # Pairwise: "a,b"
        if not set(targets) <= set(control.get("to_name") or []):
            return f"result[{i}]: {name!r} does not apply to {entry.get('to_name')!r}"
        kind = str(control.get("type", "")).lower()
        if str(entry.get("type", "")).lower() != kind:
            return f"result[{i}]: {name!r} is a {kind} question, not {entry.get('type')!r}"
        value = entry.get("value")
        if not isinstance(value, dict):
            return f"result[{i}]: value must be an object"
        why = _value_problem(kind, value, control, _attrs(project.label_config, name))
        if why:
            return f"result[{i}] ({name}): {why}"
    missing = _required(project.label_config) - {e.get("from_name") for e in result}
    if missing:
        return f"unanswered required question(s): {', '.join(sorted(missing))}"
    return None
