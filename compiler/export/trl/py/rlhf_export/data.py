"""Dataset preparation: the same records, field mappings and splits as rlhfc's local runtime.

Each dataset of the spec is described by a dict (written into prepare_data.py by the exporter):

    name        dataset name in the spec
    source      file under data/sources/ (a copy of the spec's file, or a built-in corpus written as JSONL)
    format      "records" (JSONL already in the dataset's kind), "jsonl", "json" or "text"
    kind        "text", "pairs", "preferences", "prompts" or "unpaired"
    fields      {record field: source field} for jsonl/json (dotted paths reach into objects)
    separator   text files: "" (one document), "blank_line", or a literal separator
    prompt_words  text files read as prompts/pairs: the first N words are the prompt
    limit       keep the first N records (0: all)
    validation, split_seed   the held-out split

The result is data/<name>/train.jsonl and data/<name>/validation.jsonl. Standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .seedrandom import split_dataset

KIND_FIELDS = {
    "text": ["text"],
    "pairs": ["prompt", "response"],
    "preferences": ["prompt", "chosen", "rejected"],
    "prompts": ["prompt"],
    "unpaired": ["prompt", "completion"],
}


class DataError(Exception):
    pass


def _lookup(obj: dict[str, Any], path: str) -> Any:
    if path in obj:
        return obj[path]
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def to_record(raw: Any, kind: str, fields: dict[str, str], where: str) -> dict[str, Any]:
    """A record of `kind` from a raw JSON object, through the field mapping (rlhfc's toRecord)."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a JSON object")
    out: dict[str, Any] = {}
    for field in KIND_FIELDS[kind]:
        source = fields.get(field, field)
        value = _lookup(raw, source)
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{source}' must be a string for a {kind} record, got {value!r}")
        out[field] = value
    if kind == "preferences":
        margin = _lookup(raw, fields.get("margin", "margin"))
        if margin is not None:
            if isinstance(margin, bool) or not isinstance(margin, (int, float)):
                raise DataError(f"{where}: the margin must be a number, got {margin!r}")
            out["margin"] = margin
    if kind == "prompts":
        # a prompt keeps its record's other top-level scalar fields (user reward functions receive the record)
        used = fields.get("prompt", "prompt")
        for key, value in raw.items():
            if key == used or key in out or not isinstance(value, (str, bool, int, float)):
                continue
            if isinstance(value, float) and value != value:
                continue
            out[key] = value
    if kind == "unpaired":
        source = fields.get("label", "label")
        label = _lookup(raw, source)
        if not isinstance(label, bool):
            raise DataError(f"{where}: field '{source}' must be true (desirable) or false (undesirable), got {label!r}")
        out["label"] = label
    return out


def split_after_words(text: str, n: int) -> tuple[str, str] | None:
    """Split after the n-th word: (prefix, rest), or None when the text has n words or fewer."""
    for count, match in enumerate(re.finditer(r"\S+", text), start=1):
        if count == n:
            rest = text[match.end():]
            return (text[: match.end()], rest) if re.search(r"\S", rest) else None
    return None


def derive_records(texts: list[str], kind: str, prompt_words: int, where: str) -> list[dict[str, str]]:
    """text → {text}; prompts → {prompt: first words}; pairs → {prompt, response: the rest}."""
    if kind == "text":
        return [{"text": t} for t in texts]
    if kind == "preferences":
        raise DataError(f"{where}: a preferences dataset cannot be derived from plain text")
    if kind == "unpaired":
        raise DataError(f"{where}: an unpaired dataset cannot be derived from plain text")
    out = []
    for t in texts:
        parts = split_after_words(t, prompt_words)
        if parts is None:
            continue
        out.append({"prompt": parts[0]} if kind == "prompts" else {"prompt": parts[0], "response": parts[1]})
    return out


def read_records(spec: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    path = root / spec["source"]
    content = path.read_text(encoding="utf-8-sig")
    fmt, kind = spec["format"], spec["kind"]
    if fmt == "records":
        return [json.loads(line) for line in content.split("\n") if line.strip()]
    if fmt == "jsonl":
        return [
            to_record(json.loads(line), kind, spec["fields"], f"{path}:{i + 1}")
            for i, line in enumerate(content.split("\n"))
            if line.strip()
        ]
    if fmt == "json":
        raw = json.loads(content)
        if not isinstance(raw, list):
            raise DataError(f"{path}: expected a JSON array of records")
        return [to_record(r, kind, spec["fields"], f"{path}: record {i}") for i, r in enumerate(raw)]
    if fmt == "text":
        sep = spec.get("separator", "")
        if sep == "":
            docs = [content]
        elif sep == "blank_line":
            docs = re.split(r"\r?\n[ \t]*\r?\n", content)
        else:
            docs = content.split(sep)
        docs = [d.strip() for d in docs if d.strip()]
        return derive_records(docs, kind, spec.get("prompt_words", 4), str(path))
    raise DataError(f"{path}: unknown format {fmt!r}")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)


def prepare(datasets: list[dict[str, Any]], root: Path) -> None:
    """Write data/<name>/{train,validation}.jsonl for every dataset."""
    for spec in datasets:
        records = read_records(spec, root)
        if spec["limit"] > 0:
            records = records[: spec["limit"]]
        if not records:
            raise DataError(f"dataset {spec['name']}: the {spec['kind']} dataset is empty")
        train, validation = split_dataset(records, spec["validation"], spec["split_seed"])
        out = root / "data" / spec["name"]
        write_jsonl(out / "train.jsonl", train)
        write_jsonl(out / "validation.jsonl", validation)
        print(f"dataset {spec['name']}: {len(train)} train, {len(validation)} validation ({spec['kind']})")
