"""Judges: score (prompt, response) pairs, like rlhfc's rule judges and reward models.

    vader()        VADER compound sentiment of the response (vaderSentiment), in [-1, 1]
    afinn()        AFINN-165 sentiment of the response (afinn) divided by its number of tokens
                   (per_token=False: the summed score)
    length(target) word count, or -|words - target| when target > 0
    words(list)    fraction of the response's words that are in the list
    reward model   the scalar head of a trained reward model, on prompt + response
    typescript(file, name)  a user TypeScript function, run by Node.js + tsx (ts_judge.mjs)

A judge is called as judge(prompts, responses) or judge(prompts, responses, records), records being
each prompt's dataset record (user functions receive it as their third argument; the others ignore it).
`reward_func` turns a judge into a TRL reward function.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

Judge = Callable[..., list[float]]

_WORD = re.compile(r"(?:[^\W_]|')+")


def words_of(text: str) -> list[str]:
    """Lower-cased words (letters, digits, apostrophes), the unit of length() and words()."""
    return _WORD.findall(text.lower())


def vader() -> Judge:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda prompts, responses, records=None: [analyzer.polarity_scores(r)["compound"] for r in responses]


def afinn(per_token: bool = True) -> Judge:
    """AFINN-165 sentiment, as rlhfc's afinn() (the npm `sentiment` package 5.0.2): its tokenizer, labels
    (with emoji), and negators; afinn.json is written next to this file by the export. per_token: the
    comparative score (summed / number of tokens), else the summed score."""
    import json
    from pathlib import Path

    lexicon = json.loads((Path(__file__).parent / "afinn.json").read_text(encoding="utf-8"))
    labels, negators = lexicon["labels"], lexicon["negators"]

    def analyze(text: str) -> float:
        tokens = re.sub(r"\s\s+", " ", re.sub(r"[.,/#!?$%^&*;:{}=_`\"~()]", " ", text.lower().replace("\n", " "))).strip().split(" ")
        score = 0
        for i, t in enumerate(tokens):
            if t in labels:
                score += -labels[t] if i > 0 and negators.get(tokens[i - 1]) else labels[t]
        if not per_token:
            return float(score)
        return score / len(tokens) if tokens else 0.0

    return lambda prompts, responses, records=None: [analyze(r) for r in responses]


def length(target: int = 0) -> Judge:
    def score(prompts: Sequence[str], responses: Sequence[str], records=None) -> list[float]:
        counts = [len(words_of(r)) for r in responses]
        return [float(-abs(c - target)) if target > 0 else float(c) for c in counts]

    return score


def words(vocabulary: Sequence[str]) -> Judge:
    wanted = {w.lower() for w in vocabulary}

    def score(prompts: Sequence[str], responses: Sequence[str], records=None) -> list[float]:
        out = []
        for r in responses:
            ws = words_of(r)
            out.append(sum(w in wanted for w in ws) / len(ws) if ws else 0.0)
        return out

    return score


def reward_model(folder: str, batch_size: int = 32) -> Judge:
    """Score prompt + response with a reward model folder written by a reward stage."""
    import torch

    from .common import device, load_scalar_model, load_tokenizer

    tokenizer = load_tokenizer(folder)
    model = load_scalar_model(folder, tokenizer.pad_token_id).to(device()).eval()
    tokenizer.padding_side = "right"

    def score(prompts: Sequence[str], responses: Sequence[str], records=None) -> list[float]:
        out: list[float] = []
        texts = [p + r for p, r in zip(prompts, responses)]
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True, truncation=True).to(model.device)
            with torch.no_grad():
                out.extend(model(**batch).logits[:, 0].float().tolist())
        return out

    return score


def typescript(file: str, name: str) -> Judge:
    """A user TypeScript function fn("file.ts#name"): each batch is scored by `node rlhf_export/ts_judge.mjs`
    (Node.js >= 20 and tsx must be installed; $RLHF_NODE names another node binary)."""
    import json
    import os
    import subprocess
    from pathlib import Path

    runner = Path(__file__).with_name("ts_judge.mjs")
    path = Path(__file__).resolve().parent.parent / file

    def score(prompts: Sequence[str], responses: Sequence[str], records=None) -> list[float]:
        items = [
            {"prompt": p, "response": r, "record": records[i] if records is not None else {"prompt": p}}
            for i, (p, r) in enumerate(zip(prompts, responses))
        ]
        proc = subprocess.run(
            [os.environ.get("RLHF_NODE", "node"), str(runner), str(path), name],
            input=json.dumps(items),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip() or f"fn({file}#{name}) failed with exit code {proc.returncode}")
        return [float(x) for x in json.loads(proc.stdout)]

    return score


def reward_func(judge: Judge, name: str):
    """A judge as a TRL reward function: TRL passes the dataset's other columns as keyword lists, which
    become each prompt's record (the third argument of a user function)."""

    def func(prompts, completions, **kwargs):
        columns = {k: v for k, v in kwargs.items() if isinstance(v, list) and len(v) == len(prompts) and k != "completion_ids"}
        records = [{"prompt": p, **{k: v[i] for k, v in columns.items()}} for i, p in enumerate(prompts)]
        return judge(list(prompts), list(completions), records)

    func.__name__ = name
    return func


# ---- length shaping (runtime/rl/length.ts): rewards of answer length alone, added to the sum ----


def soft_overlong(max_completion_len: int, soft_punish_cache: int):
    """length.overlong_cache: TRL's own soft over-length punishment (DAPO), on the completion's tokens."""
    from trl.rewards import get_soft_overlong_punishment

    punish = get_soft_overlong_punishment(max_completion_len=max_completion_len, soft_punish_cache=soft_punish_cache)

    def func(prompts, completions, completion_ids, **kwargs):
        return punish(completion_ids)

    func.__name__ = "length_overlong"
    return func


def short_floor(floor: int):
    """length.floor: (n - floor) / floor for a completion of n < floor tokens (end-of-text counted), else 0."""

    def func(prompts, completions, completion_ids, **kwargs):
        return [(len(c) - floor) / floor if len(c) < floor else 0.0 for c in completion_ids]

    func.__name__ = "length_floor"
    return func

