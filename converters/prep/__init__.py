"""Data preparation helpers for Chinese medical QA (pure functions, stdlib only).

    clean        clean_text, scrub_pii, length_ok          text hygiene before anything else
    dedupe       dedupe, leakage                           exact + MinHash/LSH near duplicates
    five_section restructure                               free text -> 【病情分析】...【免责声明】
    noise        inject, cite                              noisy-retrieval prompts with [n] citations
    refusals     refusal_examples                          out-of-scope questions -> refusal answers

Nothing here reads or writes run directories; `converters.build` is not aware of
this package. Callers compose the functions on `converters.common.Example`s.
"""
