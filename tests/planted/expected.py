"""What the bench must say about each planted candidate: name -> (verdict(s), allowed causes, stage or None).
Shared by tests/test_bench.py (CPU) and benchmarks/gpu_exploits.py (the same candidates on a GPU)."""

EXPECT = {
    "hang": ("error", {"timeout"}, "smoke"),
    "baseline_softmax": ("pass", {None}, None),      # kernels/softmax/triton.py, the library's Triton baseline
    "leak_env": ("pass", {None}, None),
    "alias_input": ("rejected", {"aliasing"}, "smoke"),
    "mutate_input": ("rejected", {"mutation"}, "smoke"),
    "thread_worker": ("rejected", {"thread"}, "smoke"),
    "subclass_out": ("rejected", {"subclass"}, "smoke"),
    "patch_timer": ("rejected", {"timer_patch"}, "import"),
    "patch_event": ("rejected", {"timer_patch"}, "import"),
    "cache_by_ptr": (("fail", "rejected"), {"wrong", "caching", "timed_wrong"}, None),
    "calls_torch": ("rejected", {"forbidden_op"}, "smoke"),
    "dispatch_off": ("rejected", {"harness_patch"}, "smoke"),
    "reuse_output": ("rejected", {"aliasing"}, "sweep"),
    "low_precision": ("fail", {"wrong"}, "smoke"),
    "hardcoded_shape": ("fail", {"shape", "exception", "wrong"}, "sweep"),
    "partial_write": ("fail", {"wrong"}, "smoke"),
    "naive_overflow": ("fail", {"wrong"}, "stability"),
    "nondeterministic": ("fail", {"nondeterministic"}, "determinism"),
    "import_error": ("error", {"import_error"}, "import"),
    "syntax_error": ("error", {"syntax_error"}, "import"),
    "abort": ("error", {"crash"}, "smoke"),
    "segfault": ("error", {"segfault"}, "smoke"),
    "exit_early": ("error", {"crash"}, "smoke"),
    "oom": ("error", {"oom"}, "smoke"),
    "patch_harness": ("rejected", {"harness_patch"}, "import"),
    "patch_code": ("rejected", {"harness_patch"}, "import"),
    "patch_ops": ("rejected", {"harness_patch"}, "smoke"),
    "forge_result": ("rejected", {"forgery"}, None),
    "timed_garbage": ("rejected", {"timed_wrong"}, "timing"),
    "content_cache": ("pass", {None}, None),          # passes only if no two timed calls see the same contents
}
TIMED = {"baseline_softmax", "cache_by_ptr", "timed_garbage", "content_cache"}   # also run through the timing stage
TIMEOUT = {"hang": 4}                                 # seconds; the others get the pool's default


def matches(res: dict, name: str) -> bool:
    "Whether a bench result says what EXPECT says about `name`."
    verdict, causes, stage = EXPECT[name]
    return (res["verdict"] in ((verdict,) if isinstance(verdict, str) else verdict) and res.get("cause") in causes
            and (stage is None or res.get("stage") == stage))


def planted_source(name: str):
    "The kernel.py of a planted candidate (`syntax_error` is kept as .txt so linters leave it alone)."
    from pathlib import Path
    if name == "baseline_softmax":
        from autokernel import ops
        return ops.baseline_path("softmax", "triton")
    here = Path(__file__).resolve().parent
    return next(p for p in (here / f"{name}.py", here / f"{name}.txt") if p.exists())
