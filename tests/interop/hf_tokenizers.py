# The `tokenizers` side of tests/interop/hf-tokenizers.test.ts.
#
#   train  SPEC  — trains one small tokenizer per model family with the `tokenizers` library, configured
#                  as that family's real tokenizer.json is (normalizer, pre-tokenizer, model flags,
#                  decoder, post-processor, special tokens), and saves tokenizer.json +
#                  tokenizer_config.json into SPEC["out"]/<family>/.
#   encode SPEC  — for each folder in SPEC["folders"]: ids of every text in SPEC["texts"] with the
#                  `tokenizers` library (special tokens matched, and encode_special_tokens=True), the
#                  decoded text of both, and transformers.AutoTokenizer's ids with add_special_tokens.
#
# Prints one JSON line.
import json
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
BYTES = [f"<0x{b:02X}>" for b in range(256)]


def byte_level_trainer(vocab, special):
    return trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)


def llama3(texts, vocab):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    special = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.train_from_iterator(texts, byte_level_trainer(vocab, special))
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1", special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": True}


def qwen2(texts, vocab):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, byte_level_trainer(vocab, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
    # Qwen3's reasoning markers: added tokens that are not special
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False), AddedToken("</think>", special=False, normalized=False)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok, {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": False, "clean_up_tokenization_spaces": False}


def smollm2(texts, vocab):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, byte_level_trainer(vocab, ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>"]))
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok, {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>", "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False, "clean_up_tokenization_spaces": False}


def sentencepiece_bpe(texts, vocab, special):
    """A SentencePiece-style BPE: <unk> <s> </s>, the 256 byte tokens, then merges over characters."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=["<unk>", "<s>", "</s>"] + BYTES, limit_alphabet=150, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    j = json.loads(tok.to_str())
    # the byte tokens are ordinary vocabulary in Llama 2 / Mistral, not added tokens
    j["added_tokens"] = [a for a in j["added_tokens"] if a["content"] not in BYTES]
    for a in j["added_tokens"]:
        a["normalized"] = False
    for t in special:
        j["added_tokens"].append({"id": len(j["model"]["vocab"]) + len(j["added_tokens"]) - 3, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    return j


def sp_decoder():
    return decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1, right=0)])


def llama2(texts, vocab):
    j = sentencepiece_bpe(texts, vocab, [])
    tok = Tokenizer.from_str(json.dumps(j))
    # Llama 2's form: no pre-tokenizer, ▁ from the normalizer
    tok.pre_tokenizer = None
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = sp_decoder()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": True, "clean_up_tokenization_spaces": False}


def mistral(texts, vocab):
    j = sentencepiece_bpe(texts, vocab, ["[INST]", "[/INST]"])
    tok = Tokenizer.from_str(json.dumps(j))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = sp_decoder()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": False, "clean_up_tokenization_spaces": False}


def metaspace_always(texts, vocab):
    """Metaspace splitting on ▁ with prepend_scheme always and the Metaspace decoder (older SentencePiece conversions)."""
    j = sentencepiece_bpe(texts, vocab, [])
    tok = Tokenizer.from_str(json.dumps(j))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "tokenizer_class": "PreTrainedTokenizerFast"}


def added_flags(texts, vocab):
    """Byte-level BPE with added tokens using every flag: lstrip, rstrip, single_word, normalized, not special."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, byte_level_trainer(vocab, ["<|endoftext|>"]))
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False), AddedToken("<sep>", rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("cat", single_word=True, normalized=False), AddedToken("ＦＵＬＬ", normalized=True), AddedToken("<tool_call>", lstrip=True, rstrip=True, normalized=False)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok, {"eos_token": "<|endoftext|>", "tokenizer_class": "PreTrainedTokenizerFast"}


FAMILIES = {"llama3": llama3, "qwen2": qwen2, "smollm2": smollm2, "llama2": llama2, "mistral": mistral, "metaspace-always": metaspace_always, "added-flags": added_flags}


def train(spec):
    import os
    made = {}
    for name, build in FAMILIES.items():
        tok, config = build(spec["train"], spec.get("vocab", 2000))
        folder = os.path.join(spec["out"], name)
        os.makedirs(folder, exist_ok=True)
        j = json.loads(tok.to_str())
        if name == "qwen2":  # Qwen's files write merges as "a b" strings; the others as pairs
            j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        config.update(spec.get("config", {}).get(name, {}))
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=2)
        made[name] = {"folder": folder, "vocab": tok.get_vocab_size(), "merges": len(j["model"]["merges"])}
    return made


def encode(spec):
    from transformers import AutoTokenizer
    out = {}
    texts = spec["texts"]
    for name, folder in spec["folders"].items():
        import time
        tok = Tokenizer.from_file(folder + "/tokenizer.json")
        t0 = time.perf_counter()
        special = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        seconds = time.perf_counter() - t0
        tok.encode_special_tokens = True
        plain = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        r = {
            "seconds": seconds,
            "special": special,
            "plain": plain,
            "decoded_special": [tok.decode(ids, skip_special_tokens=False) for ids in special],
            "decoded_plain": [tok.decode(ids, skip_special_tokens=False) for ids in plain],
        }
        if spec.get("auto", True):
            auto = AutoTokenizer.from_pretrained(folder)
            r["auto"] = [auto(t, add_special_tokens=True)["input_ids"] for t in texts]
            r["auto_specials"] = {"bos": auto.bos_token_id, "eos": auto.eos_token_id, "pad": auto.pad_token_id}
        out[name] = r
    return out


CHAT_SPECIALS = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "[INST]", "[/INST]"]


def chat(spec):
    """Each family's folder: a small byte-level tokenizer and tokenizer_config.json with the chat template;
    apply_chat_template's text and ids for every conversation, with and without the generation prompt."""
    import os
    from transformers import AutoTokenizer
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(spec["train"], byte_level_trainer(600, CHAT_SPECIALS))
    out = {}
    for name, fam in spec["families"].items():
        folder = os.path.join(spec["out"], name)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", **fam["config"], "chat_template": fam["template"]}, f, ensure_ascii=False, indent=2)
        auto = AutoTokenizer.from_pretrained(folder)
        rows = []
        for conv in spec["conversations"]:
            for gen in (True, False):
                for kwargs in fam.get("kwargs", [{}]):
                    try:
                        text = auto.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen, **kwargs)
                        ids = auto.apply_chat_template(conv, tokenize=True, add_generation_prompt=gen, **kwargs)
                        if not isinstance(ids, list):
                            ids = ids["input_ids"]
                        rows.append({"text": text, "ids": ids})
                    except Exception as e:  # raise_exception in the template
                        rows.append({"error": str(e)})
        out[name] = {"folder": folder, "rows": rows}
    return out


if __name__ == "__main__":
    cmd, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    result = train(spec) if cmd == "train" else chat(spec) if cmd == "chat" else encode(spec)
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    print(json.dumps({"ok": True}))
