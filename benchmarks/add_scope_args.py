"""Add `scope_args` (module hyper-parameters such as LlamaRMSNorm's eps, which torch.profiler does not record) to the
saved preset profiles presets/<name>.profile.json, from the model definition: the model is built on the `meta` device
(no weights), `autokernel.profile.scope_args` is computed as the profiler does, and every measured number is left as is.

    .venv/bin/python benchmarks/add_scope_args.py [gpt2 llama bert]
"""
import sys

import _common  # noqa: F401  (the repo on sys.path)
import torch

from autokernel.core import find_factory, load_json, repo_root, save_json
from autokernel.profile import scope_args

SOURCE = "added from the model definition on CPU by benchmarks/add_scope_args.py; the times were measured on the GPU"


def model_scope_args(name: str) -> dict:
    "`scope_args` of the preset's full-size model, built on the meta device (the inputs it makes are not used)."
    with torch.device("meta"):
        model, _ = find_factory(name)()
    return scope_args(model)


def add(name: str) -> dict:
    path = repo_root() / "presets" / f"{name}.profile.json"
    prof = load_json(path, "autokernel.profile")
    sa = model_scope_args(name)
    save_json({**prof, "scope_args": sa, "scope_args_source": SOURCE}, path, "autokernel.profile", prof.get("version", 1))
    return sa


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.name.split(".")[0] for p in (repo_root() / "presets").glob("*.profile.json"))
    for n in names:
        print(n, add(n))
