"""Check a merged / fully fine-tuned model before vLLM serves it.

Catches what makes a served model answer differently from the trained one:
no chat template (or a different one than the base's), missing EOS or pad
token, a generation_config whose EOS does not stop at the chat end token, an
embedding smaller than the tokenizer. Prints one line per check; exit 1 if any fails.

Runs in the train environment. Run as:
    python -m train.check_export MODEL_DIR [BASE_MODEL]
"""
from __future__ import annotations

import sys
from pathlib import Path
from core.stage import command_status


def check(model_dir: Path, base: str | None) -> list[tuple[str, bool, str]]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    results: list[tuple[str, bool, str]] = []
    tok = AutoTokenizer.from_pretrained(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    template = tok.chat_template or ""
    results.append(("chat template present", bool(template), f"{len(template)} chars"))
    if base:
        base_template = AutoTokenizer.from_pretrained(base).chat_template or ""
        results.append(("chat template equals the base model's", template == base_template,
                        "same" if template == base_template else "differs: vLLM will format prompts "
                        "with the merged one; compare tokenizer_config.json / chat_template.jinja"))
    results.append(("eos token set", tok.eos_token is not None, f"{tok.eos_token!r} id {tok.eos_token_id}"))
    results.append(("pad token set", tok.pad_token is not None, f"{tok.pad_token!r} id {tok.pad_token_id}"))
    gen_file = model_dir / "generation_config.json"
    if gen_file.exists():
        gen = GenerationConfig.from_pretrained(model_dir)
        eos = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
        results.append(("generation_config stops at the tokenizer's eos", tok.eos_token_id in eos,
                        f"eos_token_id {gen.eos_token_id}"))
    else:
        results.append(("generation_config.json present", False, "missing: vLLM falls back to "
                        "config.json's eos_token_id and its own sampling defaults"))
    results.append(("embedding covers the tokenizer", config.vocab_size >= len(tok),
                    f"vocab_size {config.vocab_size} vs {len(tok)} tokens"))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if template:
        ids = tok.apply_chat_template([{"role": "user", "content": "头痛怎么办？"}],
                                      add_generation_prompt=True, return_tensors="pt", return_dict=True)
    else:  # still run the forward pass, on plain text
        ids = tok("头痛怎么办？", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    results.append(("forward pass finite", bool(torch.isfinite(logits).all()), f"logits {tuple(logits.shape)}"))
    return results


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    model_dir = Path(argv[0])
    if not (model_dir / "config.json").exists():
        print(f"FAIL  no config.json in {model_dir}: the export did not produce a model")
        return 1
    results = check(model_dir, argv[1] if len(argv) > 1 else None)
    for name, ok, detail in results:
        print(f"  {'ok  ' if ok else 'FAIL'}  {name:48s} {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
