"""The run directory: every path a run reads or writes, in one place.

    runs/<recipe name>/             (or the recipe's run_dir)
      recipe.resolved.yaml          the fully resolved recipe of the last stage
      data/                         `make data`: splits, dataset_info.json, eval/, corpus.jsonl, report
      tiny-model/                   the generated base model (model.name_or_path: tiny)
      llamafactory/                 rendered train.yaml / export.yaml (+ DeepSpeed JSON)
      adapter/ or model/            LLaMA-Factory's output_dir: LoRA/QLoRA adapter, or the full fine-tune
      adapter-<dpo|orpo|simpo|kto>/ the preference stage's adapter
      merged/                       the merged export, stamped done (a full fine-tune is served from model/)
      quantized/                    `make quantize`: the merged model in compressed-tensors, stamped done
      index/                        Chroma (embedded) + BM25
      logs/                         one log per stage and server; tensorboard/
      serve/                        pid files of running servers (<name>.json) and their recipes
      eval/, parity/, bench/        reports
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.recipe.packaged import PACKAGED, packaged_dir
from core.recipe.schema import TINY, Recipe

RUNS_ROOT = Path("runs")
TRAIN_DONE = "medkit_train_done.json"  # written into the trained folder when training finished
EXPORT_DONE = "medkit_export_done.json"  # written into the merged folder when `make export` finished
QUANTIZE_DONE = "medkit_quantize_done.json"  # written into the quantized folder when `make quantize` finished
ADAPTER_RECORD = "adapters.json"        # beside the pid files: what `make adapter` changed (not a server)


def base_model_path(recipe: Recipe) -> str:
    """What the base model is called on this machine: tiny dir, packaged dir, local dir, or hub id."""
    if recipe.model.name_or_path == TINY:
        return str(RunLayout.of(recipe).tiny_model.resolve())
    if recipe.model.name_or_path in PACKAGED:
        return str(packaged_dir(recipe.model.name_or_path).resolve())
    local = Path(recipe.model.name_or_path).expanduser()
    return str(local.resolve()) if local.exists() else recipe.model.name_or_path


def preference_dir(recipe: Recipe) -> Path:
    """Where the preference adapter lands: <run_dir>/adapter-dpo (or -orpo, -simpo, -kto)."""
    return RunLayout.of(recipe).preference_adapter(recipe.preference.method)


def dataset_info_in(data_dir: Path) -> Path:
    """LLaMA-Factory's dataset index inside a data folder (`make data` or `make convert` output)."""
    return data_dir / "dataset_info.json"


def eval_sets_in(data_dir: Path) -> Path:
    """The evaluation items inside a data folder, one JSONL per source."""
    return data_dir / "eval"


@dataclass(frozen=True)
class RunLayout:
    root: Path
    full_finetune: bool = False

    @classmethod
    def of(cls, recipe: Recipe) -> "RunLayout":
        root = Path(recipe.run_dir) if recipe.run_dir else RUNS_ROOT / recipe.name
        return cls(root, recipe.finetune.method == "full")

    # --- the recipe and the data -----------------------------------------------------------------
    @property
    def resolved_recipe(self) -> Path:
        return self.root / "recipe.resolved.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dataset_info(self) -> Path:
        return dataset_info_in(self.data)

    def split(self, name: str) -> Path:
        """train / validation / test rows (alpaca columns)."""
        return self.data / f"{name}.jsonl"

    @property
    def data_summary(self) -> Path:
        return self.data / "summary.json"

    @property
    def eval_sets(self) -> Path:
        return eval_sets_in(self.data)

    @property
    def corpus(self) -> Path:
        return self.data / "corpus.jsonl"

    # --- models ------------------------------------------------------------------------------------
    @property
    def tiny_model(self) -> Path:
        return self.root / "tiny-model"

    @property
    def llamafactory(self) -> Path:
        return self.root / "llamafactory"

    @property
    def trained(self) -> Path:
        """LLaMA-Factory's output_dir: the adapter (lora/qlora) or the full model, with checkpoints."""
        return self.root / ("model" if self.full_finetune else "adapter")

    @property
    def train_done(self) -> Path:
        return self.trained / TRAIN_DONE

    @property
    def trainer_log(self) -> Path:
        """LLaMA-Factory's per-step log (loss, eval loss), beside the trained model."""
        return self.trained / "trainer_log.jsonl"

    def preference_adapter(self, method: str) -> Path:
        """The preference stage's adapter: adapter-dpo, adapter-orpo, adapter-simpo or adapter-kto."""
        return self.root / f"adapter-{method}"

    def preference_done(self, method: str) -> Path:
        """The done stamp of the preference stage, inside its adapter folder (like SFT's)."""
        return self.preference_adapter(method) / TRAIN_DONE

    @property
    def merged(self) -> Path:
        """The model vLLM serves in merged mode (a full fine-tune needs no merge)."""
        return self.trained if self.full_finetune else self.root / "merged"

    @property
    def has_merged(self) -> bool:
        """A merged (or fully fine-tuned) model is there to serve or to train on."""
        return (self.merged / "config.json").exists()

    @property
    def export_done(self) -> Path:
        """The done stamp of `make export`, inside the merged folder, with the merged model's digest."""
        return self.merged / EXPORT_DONE

    @property
    def quantized(self) -> Path:
        """`make quantize`'s output: the merged model with compressed weights, served in quantized mode."""
        return self.root / "quantized"

    @property
    def quantize_done(self) -> Path:
        return self.quantized / QUANTIZE_DONE

    # --- serving -------------------------------------------------------------------------------------
    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def servers(self) -> Path:
        return self.root / "serve"

    def pid_file(self, server: str) -> Path:
        """vllm-lora, vllm-merged, gateway, parity-merged, bench-vllm, ..."""
        return self.servers / f"{server}.json"

    def pid_files(self) -> list[Path]:
        """Every server's pid file in this run (`make stop` stops them all)."""
        return sorted(p for p in self.servers.glob("*.json") if p.name != ADAPTER_RECORD)

    @property
    def adapter_record(self) -> Path:
        """The LoRA adapters `make adapter` added or removed while serving (serve/adapter_record.py)."""
        return self.servers / ADAPTER_RECORD

    def server_recipe(self, server: str) -> Path:
        """The resolved recipe a background server was started with."""
        return self.servers / f"{server}.recipe.yaml"

    # --- logs and reports --------------------------------------------------------------------------
    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def tensorboard(self) -> Path:
        return self.logs / "tensorboard"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def parity(self) -> Path:
        return self.root / "parity"

    @property
    def bench(self) -> Path:
        return self.root / "bench"


def pid_files_under(runs_root: Path) -> list[Path]:
    """The pid files of every run directory directly under `runs_root` (`make status`)."""
    return sorted(p for p in runs_root.glob(f"*/{RunLayout(Path()).servers.name}/*.json") if p.name != ADAPTER_RECORD)
