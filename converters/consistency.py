"""Warnings about a data section whose parts disagree (printed by `make validate` and `make data`).

  * a system prompt that asks for the five 【...】 sections while `five_section` is off (the
    model would be told one format and trained on another), and five_section on while no
    prompt names the sections;
  * a prompt that asks for the five sections applied to a source whose answers are option
    letters or yes/no labels (exam and PubMedQA formats);
  * a prompt in one language applied to a source in another (a Chinese prompt on English
    PubMed/PubMedQA rows, an English prompt on Chinese dialogues);
  * a prompt that asks for the five sections applied to a source of preference pairs: their chosen
    answers become SFT rows as written (five_section leaves a pair's answers alone, so that the
    chosen one stays the answer preferred over the rejected one).
A source's own `system_prompt` wins over `data.system_prompt`, so each warning names the
source and the key to set. Nothing here stops a run.
"""
from __future__ import annotations

import re

from core.answer_format import asks_for_sections

ENGLISH_FORMATS = {"pubmed", "pubmedqa"}
CHOICE_FORMATS = {"medqa", "cmb", "cmexam", "pubmedqa", "prompt-cblue"}  # letters, yes/no/maybe, task outputs
CHINESE_FORMATS = {"cmedqa2", "cmedqa1", "cmedqa2-pairs", "dialogue-csv", "huatuo-lite", "huatuo-encyclopedia",
                   "huatuo-conversation", "shibing624-medical", "cmb", "cmexam", "wenda-jsonl", "huatuogpt2-eval",
                   "medqa-textbooks", "prompt-cblue", "dialogue-text"}
PAIR_FORMATS = {"cmedqa2-pairs", "medicalgpt-preference"}  # chosen/rejected pairs
CJK = re.compile(r"[\u4e00-\u9fff]")


names_sections = asks_for_sections  # True when the prompt asks for the five-section layout


def warnings(data) -> list[str]:
    """Problems of a core.recipe.schema.DataSection, as sentences."""
    found = []
    prompts = {i: source.system_prompt if source.system_prompt is not None else data.system_prompt
               for i, source in enumerate(data.sources)}
    open_sources = [i for i, s in enumerate(data.sources) if s.format not in CHOICE_FORMATS]
    if not data.five_section.enabled:
        asked = [i for i in open_sources if names_sections(prompts[i])]
        if asked:
            found.append(f"the system prompt of data.sources {asked} asks for the five sections but "
                         f"data.five_section.enabled is false: training answers will not have them. Turn "
                         f"five_section on or remove the sections from the prompt.")
    elif open_sources and not any(names_sections(prompts[i]) for i in open_sources):
        found.append("data.five_section is on but no system prompt names the sections: the model is "
                     "trained on a layout it is never asked for. Name 【病情分析】…【免责声明】 in data.system_prompt.")
    for i, source in enumerate(data.sources):
        prompt = prompts[i]
        if not prompt:
            continue
        where = f"data.sources.{i} ({source.format}, {source.path})"
        if source.format in PAIR_FORMATS and names_sections(prompt) and data.five_section.enabled:
            found.append(f"{where}: its system prompt asks for the five sections, but its chosen answers become SFT "
                         f"rows as written (five_section leaves preference pairs alone); give it its own "
                         f"data.sources.{i}.system_prompt, or drop it from SFT data.")
        if source.format in CHOICE_FORMATS and names_sections(prompt):
            found.append(f"{where}: its answers are option letters, yes/no or task outputs, but its system prompt "
                         f"asks for the five sections; give it its own data.sources.{i}.system_prompt.")
        chinese = bool(CJK.search(prompt))
        if source.format in ENGLISH_FORMATS and chinese:
            found.append(f"{where}: an English source gets a Chinese system prompt; set "
                         f"data.sources.{i}.system_prompt in English.")
        elif source.format in CHINESE_FORMATS and not chinese:
            found.append(f"{where}: a Chinese source gets a system prompt without Chinese; set "
                         f"data.sources.{i}.system_prompt.")
    return found
