"""Judges: score (prompt, response) pairs, like rlhfc's rule judges and reward models.

    vader()        VADER compound sentiment of the response, in [-1, 1]: rlhfc's vader() (the npm
                   `vader-sentiment` 1.1.3 rules and lexicon, shipped as vader.json), not a package
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

import math
import re
from typing import Callable, Sequence

Judge = Callable[..., list[float]]

_WORD = re.compile(r"(?:[^\W_]|')+")


def words_of(text: str) -> list[str]:
    """Lower-cased words (letters, digits, apostrophes), the unit of length() and words()."""
    return _WORD.findall(text.lower())


def vader() -> Judge:
    """VADER compound sentiment, as rlhfc's vader() computes it: a port of the npm package `vader-sentiment`
    1.1.3 (Apache-2.0; Hutto & Gilbert 2014) with its lexicon (vader.json, written next to this file by the
    export). It follows that package, not the Python `vaderSentiment` (which differs: emoji, "no", ...)."""
    import json
    from pathlib import Path

    lexicon = json.loads((Path(__file__).parent / "vader.json").read_text(encoding="utf-8"))
    return _Vader(lexicon["lexicon"]).judge


class _Vader:
    """The npm `vader-sentiment` algorithm step by step; JavaScript semantics kept where Python's differ
    (String.length counts UTF-16 units, /\\s/ is ECMAScript whitespace, toFixed(4) rounds half up)."""

    B_INCR, B_DECR, C_INCR, N_SCALAR = 0.293, -0.293, 0.733, -0.74
    PUNC_LIST = [".", "!", "?", ",", ";", ":", "-", "'", '"', "!!", "!!!", "??", "???", "?!?", "!?!", "?!?!", "!?!?"]
    NEGATE = frozenset(
        "aint arent cannot cant couldnt darent didnt doesnt ain't aren't can't couldn't daren't didn't doesn't dont "
        "hadnt hasnt havent isnt mightnt mustnt neither don't hadn't hasn't haven't isn't mightn't mustn't neednt "
        "needn't never none nope nor not nothing nowhere oughtnt shant shouldnt uhuh wasnt werent oughtn't shan't "
        "shouldn't uh-uh wasn't weren't without wont wouldnt won't wouldn't rarely seldom despite".split()
    )
    BOOSTERS = {
        **dict.fromkeys(
            "absolutely amazingly awfully completely considerably decidedly deeply effing enormously entirely especially "
            "exceptionally extremely fabulously flipping flippin fricking frickin frigging friggin fully fucking greatly "
            "hella highly hugely incredibly intensely majorly more most particularly purely quite really remarkably so "
            "substantially thoroughly totally tremendously uber unbelievably unusually utterly very".split(),
            0.293,
        ),
        **dict.fromkeys(
            ["almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of", "less", "little",
             "marginally", "occasionally", "partly", "scarcely", "slightly", "somewhat", "sort of", "sorta", "sortof",
             "sort-of"],
            -0.293,
        ),
    }
    IDIOMS = {"the shit": 3, "the bomb": 3, "bad ass": 1.5, "yeah right": -2, "cut the mustard": 2, "kiss of death": -1.5, "hand to mouth": -2}
    # ECMAScript's \s (String.prototype.split(/\s/)), which is not Python's.
    JS_SPACE = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")
    PUNCTUATION = re.compile("[" + re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + "]")
    UPPER = re.compile("[^a-z]*[A-Z]+[^a-z]*")

    def __init__(self, lexicon: dict[str, float]):
        self.lexicon = lexicon

    def judge(self, prompts, responses, records=None) -> list[float]:
        return [self.compound(r) for r in responses]

    @staticmethod
    def _units(s: str) -> int:
        return len(s.encode("utf-16-le", "surrogatepass")) // 2

    @classmethod
    def _is_upper(cls, w: str) -> bool:
        return len(w) > 0 and cls.UPPER.fullmatch(w) is not None

    @classmethod
    def _negated(cls, w: str) -> bool:
        return w in cls.NEGATE or "n't" in w

    def words(self, text: str) -> list[str]:
        stripped = [w for w in self.JS_SPACE.split(self.PUNCTUATION.sub("", text)) if self._units(w) > 1]
        plus_punc: dict[str, str] = {}
        for p in self.PUNC_LIST:
            for w in stripped:
                plus_punc[p + w] = w
                plus_punc[w + p] = w
        return [plus_punc.get(t, t) for t in self.JS_SPACE.split(text) if self._units(t) > 1]

    def compound(self, text: str) -> float:
        words = self.words(text)
        caps = sum(1 for w in words if self._is_upper(w))
        cap_diff = 0 < len(words) - caps < len(words)
        sentiments: list[float] = []
        for i, item in enumerate(words):
            if (i < len(words) - 1 and item.lower() == "kind" and words[i + 1].lower() == "of") or item.lower() in self.BOOSTERS:
                sentiments.append(0)
            else:
                sentiments.append(self._valence(words, i, cap_diff))
        but = words.index("but") if "but" in words else words.index("BUT") if "BUT" in words else -1
        if but != -1:
            sentiments = [s * 0.5 if k < but else s * 1.5 if k > but else s for k, s in enumerate(sentiments)]
        if not sentiments:
            return 0.0
        total = 0
        for s in sentiments:
            total += s
        emphasis = min(text.count("!"), 4) * 0.292
        qm = text.count("?")
        emphasis += (qm * 0.18 if qm <= 3 else 0.96) if qm > 1 else 0
        if total > 0:
            total += emphasis
        elif total < 0:
            total -= emphasis
        score = total / math.sqrt(total * total + 15)
        score = -1.0 if score < -1 else 1.0 if score > 1 else score
        return _to_fixed(score, 4)

    def _scalar(self, word: str, valence: float, cap_diff: bool) -> float:
        lower = word.lower()
        if lower not in self.BOOSTERS:
            return 0.0
        scalar = self.BOOSTERS[lower]
        if valence < 0:
            scalar *= -1
        if cap_diff and self._is_upper(word):
            scalar += self.C_INCR if valence > 0 else -self.C_INCR
        return scalar

    def _valence(self, words: list[str], index: int, cap_diff: bool) -> float:
        item = words[index]
        if item.lower() not in self.lexicon:
            return 0
        valence = self.lexicon[item.lower()]
        if self._is_upper(item) and cap_diff:
            valence += self.C_INCR if valence > 0 else -self.C_INCR
        for start in range(3):
            if index > start and words[index - (start + 1)].lower() not in self.lexicon:
                s = self._scalar(words[index - (start + 1)], valence, cap_diff)
                if start == 1 and s != 0:
                    s = s * 0.95
                elif start == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                valence = self._never(valence, words, start, index)
                if start == 2:
                    valence = self._idioms(valence, words, index)
        # "least" (the package's least_check)
        if index > 1 and words[index - 1].lower() == "least" and "least" not in self.lexicon:
            if words[index - 2].lower() not in ("at", "very"):
                valence = valence * self.N_SCALAR
        elif index > 0 and words[index - 1].lower() == "least" and "least" not in self.lexicon:
            valence = valence * self.N_SCALAR
        return valence

    def _never(self, valence: float, w: list[str], start: int, i: int) -> float:
        if start == 0 and self._negated(w[i - 1]):
            valence = valence * self.N_SCALAR
        if start == 1:
            if w[i - 2] == "never" and w[i - 1] in ("so", "this"):
                valence = valence * 1.5
            elif self._negated(w[i - 2]):
                valence = valence * self.N_SCALAR
        if start == 2:
            if (w[i - 3] == "never" and w[i - 2] in ("so", "this")) or w[i - 1] in ("so", "this"):
                valence = valence * 1.25
            elif self._negated(w[i - 3]):
                valence = valence * self.N_SCALAR
        return valence

    def _idioms(self, valence: float, w: list[str], i: int) -> float:
        onezero = f"{w[i - 1]} {w[i]}"
        twoonezero = f"{w[i - 2]} {w[i - 1]} {w[i]}"
        twoone = f"{w[i - 2]} {w[i - 1]}"
        threetwoone = f"{w[i - 3]} {w[i - 2]} {w[i - 1]}"
        threetwo = f"{w[i - 3]} {w[i - 2]}"
        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in self.IDIOMS:
                valence = self.IDIOMS[seq]
                break
        if len(w) - 1 > i and f"{w[i]} {w[i + 1]}" in self.IDIOMS:
            valence = self.IDIOMS[f"{w[i]} {w[i + 1]}"]
        if len(w) - 1 > i + 1 and f"{w[i]} {w[i + 1]} {w[i + 2]}" in self.IDIOMS:
            valence = self.IDIOMS[f"{w[i]} {w[i + 1]} {w[i + 2]}"]
        if threetwo in self.BOOSTERS or twoone in self.BOOSTERS:
            valence = valence + self.B_DECR
        return valence


def _to_fixed(x: float, digits: int) -> float:
    """parseFloat(x.toFixed(digits)): the exact binary value rounded half away from zero."""
    from decimal import ROUND_HALF_UP, Decimal

    return float(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


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

    from .common import turn_text

    def func(prompts, completions, **kwargs):
        # conversational prompts and completions (chat_template) are scored as their text, as rlhfc's judges score them
        prompts, completions = [turn_text(p) for p in prompts], [turn_text(c) for c in completions]
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

