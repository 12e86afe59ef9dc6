"""What the bench must say about each planted candidate: name -> (verdict(s), allowed causes, stage or None).
Shared by tests/test_bench.py (CPU) and benchmarks/gpu_exploits.py (the same candidates on a GPU)."""

EXPECT = {
    "hang": ("error", {"timeout"}, "smoke"),
    "baseline_softmax": ("pass", {None}, None),      # kernels/softmax/triton.py, the library's Triton baseline
    "leak_env": ("pass", {None}, None),
    "alias_input": ("rejected", {"aliasing"}, "smoke"),
    "mutate_input": ("rejected", {"mutation"}, "smoke"),
    "thread_worker": (("rejected", "fail"), {"thread", "wrong"}, "smoke"),   # the output is read when the call returns
    "subclass_out": ("rejected", {"subclass"}, "smoke"),
    "patch_timer": ("pass", {None}, None),            # patches the worker's clock: the judge times with its own
    "patch_event": ("pass", {None}, None),
    "cache_by_ptr": (("fail", "rejected"), {"wrong", "caching", "timed_wrong"}, None),
    "calls_torch": ("rejected", {"forbidden_op"}, "import"),    # the judge's static scan of kernel.py
    "dispatch_off": ("rejected", {"forbidden_op"}, "import"),
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
    "patch_harness": ("rejected", {"harness_patch"}, "import"),    # static scan: it names autokernel.bench
    "patch_code": ("rejected", {"harness_patch"}, "import"),
    "patch_ops": ("fail", {"wrong"}, "smoke"),
    "forge_result": ("fail", {"wrong"}, "smoke"),     # no result file in reach: the judge's verdict on its zeros
    "timed_garbage": ("rejected", {"timed_wrong"}, "timing"),
    "content_cache": ("pass", {None}, None),          # passes only if no two timed calls see the same contents
    # issue #12's classes (written fresh; all but one passed the old bench, see the commit that added them)
    "forge_json_dumps": ("fail", {"wrong"}, "smoke"),
    "patch_torch_where": ("fail", {"wrong"}, "smoke"),
    "patch_random_sample": ("rejected", {"timed_wrong"}, "timing"),
    "rewrite_ceilings": (("pass", "rejected"), {None, "tamper"}, None),    # read-only in the sandbox: honest then
    "poison_next": (("fail", "rejected"), {"wrong", "tamper"}, "smoke"),
    "setsid_rewrite": ("rejected", {"process"}, "import"),
    "leak_proc_environ": ("pass", {None}, None),      # and no secret anywhere in its result (test_bench checks)
    "scoped_guard": ("rejected", {"forbidden_op"}, "import"),
    "popped_mode": ("rejected", {"forbidden_op"}, "import"),
    "thread_at_import": ("rejected", {"thread", "forbidden_op"}, None),
    "start_new_thread": ("rejected", {"forbidden_op", "thread"}, "import"),
    "conv_for_matmul": ("rejected", {"forbidden_op"}, "import"),
    "groupnorm_for_layernorm": ("rejected", {"forbidden_op"}, "import"),
    "dynamo_disable": ("pass", {None}, None),         # honest; its torch.compile switch cannot reach the judge's baselines
    "wrong_strides": ("fail", {"stride"}, "smoke"),
    "small_only": ("fail", {"wrong"}, "sweep"),       # only the contract sizes (4x the row, 4x the rows) catch it
    "link_plant": ("pass", {None}, None),             # its links to settings.ini are never the judge's buffers
    "timed_in_place": ("rejected", {"mutation"}, "timing"),    # the judge compares every input set after timed rounds
    "timed_static_out": ("rejected", {"aliasing"}, "timing"),  # one reused output buffer while timed
    "reply_nested": ("rejected", {"protocol"}, "smoke"),       # the candidate's fault, not a harness error
    "reply_bad_device": ("rejected", {"protocol"}, "smoke"),
    "guard_destroy": ("rejected", {"harness_patch"}, "import"),   # static scan, before the worker loads it
    "dynamic_softmax": ("rejected", {"forbidden_op"}, "smoke"),   # evades the scan; the dispatcher guard holds
    "idle_spin": ("pass", {None}, None),              # frozen while the judge times its own work (test_bench checks)
    # the shared buffers themselves (the arena on a GPU, files on the CPU): what a worker can reach beyond its tensors
    "peek_chunk": ("fail", {"wrong"}, "smoke"),       # no reference in reach: it finds nothing, returns zeros
    "scribble_chunk": ("rejected", {"out_of_bounds"}, "smoke"),   # every shared byte not in use is POISON, checked
    "stale_chunk": ("fail", {"wrong"}, "smoke"),      # poisoned before reuse, fresh inputs every check
    "late_grandchild": ("rejected", {"process"}, "smoke"),        # the judge compares its own copies; /proc shows it
    "truncate_shared": ("rejected", {"out_of_bounds"}, "smoke"),  # a short read, never the judge's SIGBUS
    # session 12's red team
    "pipe_fill": ("error", {"timeout"}, None),        # fills its own control pipe: the judge's write times out, never hangs
    "reply_forbidden_int": ("rejected", {"protocol"}, "smoke"),  # a forged `forbidden: 1` once crashed the judge
    "reply_stride_int": ("rejected", {"protocol"}, "smoke"),     # a forged `stride: 1` likewise
    "masked_rows_zero": ("fail", {"wrong"}, "stability"),        # zeros for a row holding -inf: the `masked` variant
}
ON_GPU = {   # where a GPU's shared buffers (the arena, no files) make another outcome the right one
    "truncate_shared": ("fail", {"wrong"}, "smoke"),                # no file to truncate: its zeros are a wrong result
    "peek_chunk": ("fail", {"wrong", "exception"}, "smoke"),        # its walk past the chunk may raise: it finds nothing
}
KIND = {"conv_for_matmul": "matmul", "groupnorm_for_layernorm": "layernorm"}    # the others are softmax candidates
CLASS = {"forge_json_dumps": "result forgery", "forge_result": "result forgery", "patch_torch_where": "unwatched module patch",
         "patch_random_sample": "unwatched module patch", "rewrite_ceilings": "ceilings on disk", "poison_next": "judge code on disk",
         "setsid_rewrite": "outliving the worker", "leak_proc_environ": "secrets", "leak_env": "secrets",
         "scoped_guard": "forbidden op", "popped_mode": "forbidden op", "thread_at_import": "forbidden op",
         "start_new_thread": "forbidden op", "conv_for_matmul": "forbidden op", "groupnorm_for_layernorm": "forbidden op",
         "calls_torch": "forbidden op", "dispatch_off": "forbidden op", "dynamo_disable": "baseline slowed",
         "wrong_strides": "output strides", "link_plant": "judge's writes redirected", "small_only": "test sizes", "timed_in_place": "timed path differs", "timed_static_out": "timed path differs", "reply_nested": "forged reply", "reply_bad_device": "forged reply", "guard_destroy": "forbidden op", "dynamic_softmax": "forbidden op", "idle_spin": "judge's CPU stolen", "baseline_softmax": "honest",
         "peek_chunk": "shared memory: reading past the input", "scribble_chunk": "shared memory: writing past the buffers",
         "stale_chunk": "shared memory: stale data in reuse", "late_grandchild": "shared memory: a writer outliving the call",
         "pipe_fill": "hanging the judge", "reply_forbidden_int": "forged reply", "reply_stride_int": "forged reply",
         "masked_rows_zero": "test inputs",
         "truncate_shared": "shared memory: killing the judge"}
TIMED = {"baseline_softmax", "cache_by_ptr", "timed_garbage", "content_cache", "patch_random_sample",
         "rewrite_ceilings", "dynamo_disable", "patch_timer", "patch_event", "timed_in_place", "timed_static_out", "idle_spin"}   # also run through the timing stage
TIMEOUT = {"hang": 4, "pipe_fill": 4}                                 # seconds; the others get the pool's default


def matches(res: dict, name: str, gpu: bool = False) -> bool:
    "Whether a bench result says what EXPECT (ON_GPU first, on a GPU) says about `name`."
    verdict, causes, stage = (ON_GPU if gpu else {}).get(name) or EXPECT[name]
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


def planted_spec(name: str, device: str = "cpu") -> dict:
    "The spec a planted candidate is judged with: a small case of its kind (softmax unless KIND says otherwise)."
    from autokernel import ops
    kind = KIND.get(name, "softmax")
    K = ops.KINDS[kind]
    case = K.example(M=16, K=24, N=20) if kind == "matmul" else K.example(lead=(4,), N=40)
    return {"format": "autokernel.spec", "version": 1, "name": f"planted-{name}", "kind": kind, "op_class": K.op_class,
            "backend": "triton", "case": case, "dtypes": ["float32", "bfloat16"], "test_cases": K.test_cases(case)}


def class_of(name: str) -> str:
    return CLASS.get(name, "fault" if EXPECT[name][0] == "error" else "exploit")
