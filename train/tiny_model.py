"""Generate the embedded default model: a tiny random-weight Qwen2 with a real tokenizer.

The tokenizer is a byte-level BPE learnt from the bundled samples (data/samples/),
with Qwen's special tokens and a Qwen-style chat template, so LLaMA-Factory's
`qwen` template, transformers and vLLM all treat it like a (very small) Qwen2.5.
Same spec + same samples -> byte-identical files.

Runs in the train environment. Run as:
    python -m train.tiny_model OUT_DIR '{"seed": 0, "vocab_size": 3000, ...}'
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Iterator

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# Qwen-style ChatML. The default system line is the one Qwen2.5 and LLaMA-Factory's
# `qwen` template insert when a conversation has none, so served prompts match trained ones.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- set rest = messages[1:] %}"
    "{%- else %}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- set rest = messages %}"
    "{%- endif %}"
    "{%- for message in rest %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


# Qwen2's pre-tokenizer split: letters runs, single digits, punctuation runs, newlines, spaces.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus() -> Iterator[str]:
    """Every string found in the bundled samples, in a fixed file order."""
    def strings(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    for path in sorted(p for p in SAMPLES.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="replace")
        if path.suffix == ".json":
            try:
                yield from strings(json.loads(text))
            except json.JSONDecodeError:
                yield from text.splitlines()
        elif path.suffix == ".jsonl":
            for line in text.splitlines():
                if line.strip():
                    try:
                        yield from strings(json.loads(line))
                    except json.JSONDecodeError:
                        yield line  # deliberately malformed sample rows still carry text
        else:
            yield from (line for line in text.splitlines() if line.strip())


def build_tokenizer(vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    # Qwen2's own normalizer and pre-tokenizer. Newer transformers (the serve env)
    # rebuild a model_type=qwen2 tokenizer with exactly these, whatever tokenizer.json
    # says; any other choice makes vLLM split digits differently from training.
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus(), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHAT_TEMPLATE,
        model_max_length=32768, clean_up_tokenization_spaces=False,
    )


def wanted_stamp(spec: dict) -> dict:
    """What medkit_tiny.json holds for a model built from `spec` and today's samples."""
    return {"spec": spec, "corpus_sha256": hashlib.sha256("\x00".join(corpus()).encode("utf-8")).hexdigest()}


def up_to_date(out: Path, spec: dict) -> bool:
    """The model in `out` was built from `spec` and today's samples. Stdlib only, so the app environment
    checks it without starting the train environment (whose torch import alone takes about 10 s)."""
    stamp = out / "medkit_tiny.json"
    return (stamp.exists() and (out / "model.safetensors").exists()
            and json.loads(stamp.read_text()) == wanted_stamp(spec))


def build(out: Path, spec: dict) -> None:
    if up_to_date(out, spec):
        print(f"tiny model up to date: {out}")
        return
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    stamp, wanted = out / "medkit_tiny.json", wanted_stamp(spec)
    tokenizer = build_tokenizer(spec["vocab_size"])
    eot, im_end = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>"])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_layers"],
        num_attention_heads=spec["num_heads"], num_key_value_heads=spec["num_kv_heads"],
        max_position_embeddings=spec["max_position_embeddings"], tie_word_embeddings=True,
        initializer_range=spec["initializer_range"],
        bos_token_id=eot, eos_token_id=im_end, pad_token_id=eot,
    )
    torch.manual_seed(spec["seed"])
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=[im_end, eot], pad_token_id=eot)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    stamp.write_text(json.dumps(wanted, sort_keys=True))
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()[:12]
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny model built: {out} ({params / 1e6:.2f} M parameters, vocab {len(tokenizer)}, "
          f"head_dim {spec['hidden_size'] // spec['num_heads']}, weights sha256 {digest})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    build(Path(sys.argv[1]), json.loads(sys.argv[2]))
