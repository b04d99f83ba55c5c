"""The run layout: one object knows every folder of a run directory, and nothing else spells them."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from core.layout import RunLayout, pid_files_under
from core.recipe.load import load_recipe
from tests.conftest import ROOT

# the folders of a run directory (core/layout.py's docstring)
FOLDERS = ("data", "eval", "tiny-model", "llamafactory", "adapter", "model", "merged", "index", "logs",
           "tensorboard", "serve", "parity", "bench")
CODE = ("bench", "converters", "core", "demo", "evaluation", "recipes", "scripts", "serve", "train")
# Not run directories: the repository's own data/samples, and a benchmark's scratch folder of its own.
NOT_A_RUN = {("train/tiny_model.py", "data"), ("bench/retrieval.py", "index")}


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            found.add(id(body[0].value))
    return found


def spelled_folders(source: str) -> list[tuple[int, str]]:
    """(line, folder) for each run-directory folder joined onto a path (`x / "adapter"`) or written
    inside a path string ("runs/x/adapter/", f"{out}/merged/"); docstrings and comments are prose."""
    tree, found = ast.parse(source), []
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and node.right.value in FOLDERS:
            found.append((node.lineno, node.right.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                and "<run_dir>" not in node.value:  # a placeholder in a message is prose too
            found += [(node.lineno, m.group(2)) for m in IN_PATH.finditer(node.value)]
    return found


IN_PATH = re.compile(r"(^|/)(" + "|".join(map(re.escape, FOLDERS)) + r")/")


def test_lora_and_full_fine_tunes_keep_their_model_and_trainer_log_apart(tmp_path):
    lora = RunLayout.of(load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}"]))
    full = RunLayout.of(load_recipe(ROOT / "recipes/medqa_qwen2.5-0.5b_full.yaml", [f"run_dir={tmp_path}"],
                                    check_files=False))
    assert lora.trained == tmp_path / "adapter" and lora.merged == tmp_path / "merged"
    assert lora.trainer_log == tmp_path / "adapter" / "trainer_log.jsonl"
    assert full.trained == full.merged == tmp_path / "model"  # served as trained: no merge
    assert full.trainer_log == tmp_path / "model" / "trainer_log.jsonl"
    assert full.train_done.parent == full.trained


def test_default_run_directory_is_runs_slash_the_recipe_name():
    layout = RunLayout.of(load_recipe(ROOT / "recipes/quickstart.yaml"))
    assert layout.root == Path("runs") / "quickstart"
    assert layout.pid_file("vllm-lora") == Path("runs/quickstart/serve/vllm-lora.json")
    assert layout.log("gateway") == Path("runs/quickstart/logs/gateway.log")


def test_status_finds_pid_files_of_every_run_under_a_root(tmp_path):
    for name in ("a", "b"):
        RunLayout(tmp_path / name).servers.mkdir(parents=True)
        RunLayout(tmp_path / name).pid_file("vllm-lora").write_text("{}")
    RunLayout(tmp_path / "a").server_recipe("gateway").write_text("name: a")
    assert pid_files_under(tmp_path) == [tmp_path / "a/serve/vllm-lora.json", tmp_path / "b/serve/vllm-lora.json"]


def test_no_run_directory_folder_is_spelled_outside_the_layout():
    found = []
    for folder in CODE:
        for file in sorted((ROOT / folder).rglob("*.py")):
            name = str(file.relative_to(ROOT))
            if name == "core/layout.py":
                continue
            found += [f"{name}:{line}: {word!r}" for line, word in spelled_folders(file.read_text(encoding="utf-8"))
                      if (name, word) not in NOT_A_RUN]
    assert not found, "run-directory folders spelled outside core/layout.py:\n" + "\n".join(found)


def test_the_check_sees_a_path_built_by_hand():
    assert spelled_folders('p = run_dir(recipe) / "adapter" / "trainer_log.jsonl"') == [(1, "adapter")]
    assert spelled_folders('print(f"{out}/merged/ ready")') == [(1, "merged")]
    assert spelled_folders('"""Reads runs/x/data/eval/*.jsonl."""\np = layout.trained / "trainer_log.jsonl"') == []
