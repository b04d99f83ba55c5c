"""Knowledge every stage shares and may import: the run layout, endpoints, JSONL with rejects,
the answer-format sections, plot fonts, and how a stage reports failure.

Nothing here imports a stage (converters, train, serve, evaluation, demo, bench, scripts).
"""
