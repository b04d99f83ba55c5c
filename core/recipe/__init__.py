"""Recipes: what a run is (model, data, training, serving, evaluation), declared in one place.

schema.py the pydantic model of a recipe, load.py YAML + overrides -> Recipe (every error at once),
packaged.py the real models that ship inside wheels.
"""
