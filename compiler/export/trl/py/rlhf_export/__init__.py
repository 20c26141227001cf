"""Helpers shared by the scripts of a project exported by `rlhfc compile --target trl`.

The same files ship with every exported project; the per-project scripts (prepare_data.py,
train_tokenizers.py, stages/*.py) hold the pipeline's settings and call into these modules.
"""
