"""Gradio demo (`make demo`): a thin HTTP client of the served model and the RAG gateway.

Run as:
    python -m demo recipes/quickstart.yaml [key=value ...]
"""
