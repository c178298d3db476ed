"""Model benchmark: our engines against upstream, same machine, same run, same random weights, same image.

Run: ``.venv/bin/python -m benchmarks.models [--quick] [--families vit_b,vit_t,...] --upstream-sam DIR
--upstream-mobilesam DIR --upstream-sam2 DIR`` (or ``make bench-models UPSTREAM=DIR``). Each upstream
checkout is a plain clone of its repository, kept outside this one (never installed, never imported by the app):

    git clone https://github.com/facebookresearch/segment-anything   # checked with dca509f
    git clone https://github.com/ChaoningZhang/MobileSAM             # checked with 34bbbfd
    git clone https://github.com/facebookresearch/sam2               # checked with 2b90b9f

The directories can also be given as ``$SAM_UPSTREAM_SAM``, ``$SAM_UPSTREAM_MOBILESAM``, ``$SAM_UPSTREAM_SAM2``.
Where one is missing, that family's upstream column says so and the rest still runs. No torchvision, timm or
hydra is needed: see :mod:`benchmarks.models_upstream` for the stand-ins.

For each family and side (ours, upstream) a fresh process (:mod:`benchmarks.models_run`, which says exactly what
is timed) measures encode time, the encoder's FLOPs, one click's latency and the peak RSS. The float32 matrix
product peak (``4096x1024 @ 1024x1024``) is measured in this process before and after the families. Output: a
markdown table on stdout and a JSON file (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.models_report import agreement, render

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("vit_b", "vit_t", "sam2.1_hiera_tiny", "sam2.1_hiera_small")
"""Measured by default; ``tiny`` (a 2-block ViT-SAM, for smoke tests) can be asked for."""
KINDS = {"vit_b": "sam", "tiny": "sam", "vit_t": "mobilesam"}
"""Family -> upstream checkout kind (the ``sam2*`` families: ``sam2``)."""
ENV = {"sam": "SAM_UPSTREAM_SAM", "mobilesam": "SAM_UPSTREAM_MOBILESAM", "sam2": "SAM_UPSTREAM_SAM2"}
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def shared_dir() -> Path:
    return Path(os.environ.get("SAM_SHARED_DIR", REPO.parent / "shared")).resolve()


def kind_of(family: str) -> str:
    return "sam2" if family.startswith("sam2") else KINDS[family]


def cpu_info() -> dict[str, Any]:
    """CPU model name and which of :data:`CPU_FLAGS` it has (from ``/proc/cpuinfo``; Linux only)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "flags": {f: f in flags for f in CPU_FLAGS}, "logical_cpus": os.cpu_count()}


def gemm_peak_gflops(repeats: int) -> float:
    """Best float32 GFLOP/s of ``(4096 x 1024) @ (1024 x 1024)`` over ``repeats`` timed products."""
    import torch

    a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)
    out = torch.empty(4096, 1024)
    for _ in range(2):
        torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * 4096 * 1024 * 1024 / best / 1e9


def run_side(job: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter; returns its result or ``{"error": ...}``."""
    spec = work / f"{job['family']}-{job['side']}.job.json"
    spec.write_text(json.dumps(job))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.models_run", str(spec)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not Path(job["result"]).is_file():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}", "stderr_tail": lines[-15:]}
    return json.loads(Path(job["result"]).read_text())


def measure_family(family: str, args: argparse.Namespace, work: Path, threads: int) -> dict[str, Any]:
    kind = kind_of(family)
    base = {
        "family": family,
        "kind": kind,
        "image": str(args.image),
        "repeats": args.repeats,
        "clicks": args.clicks,
        "quick": args.quick,
        "threads": threads,
        "upstream_allocator": args.upstream_allocator,
        "weights": str(work / f"{family}.pt"),
    }

    def job(side: str) -> dict[str, Any]:
        paths = {
            "result": str(work / f"{family}-{side}.json"),
            "outputs": str(work / f"{family}-{side}.npz"),
            "profile": str(args.profile_dir / f"{family}-{side}.txt") if args.profile_dir else None,
        }
        return base | paths | {"side": side}

    entry: dict[str, Any] = {"ours": run_side(job("ours"), work)}
    checkout = getattr(args, f"upstream_{kind}")
    if "error" in entry["ours"]:
        entry["upstream"] = None
        entry["upstream_note"] = "not run: our side failed"
    elif checkout is None or not checkout.is_dir():
        entry["upstream"] = None
        where = "no checkout given" if checkout is None else f"no checkout at {checkout}"
        entry["upstream_note"] = f"{where} (--upstream-{kind} or ${ENV[kind]})"
    else:
        entry["upstream"] = run_side(job("upstream") | {"checkout": str(checkout)}, work)
        if "error" not in entry["upstream"]:
            entry["agreement"] = agreement(work / f"{family}-ours.npz", work / f"{family}-upstream.npz")
    Path(base["weights"]).unlink(missing_ok=True)
    return entry


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 timed encode (the FLOP-count run warms up), 5 clicks",
    )
    parser.add_argument(
        "--families", default=",".join(FAMILIES), help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed encodes per side (default 5, quick 1)"
    )
    parser.add_argument(
        "--clicks", type=int, default=None, help="timed clicks per side (default 50, quick 5)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--upstream-allocator",
        action="store_true",
        help="give upstream our allocator setting too (sam_model.allocator; ours always has it, as the app)",
    )
    default_image = shared_dir() / "datasets" / "grabcut" / "images" / "person3.jpg"
    parser.add_argument("--image", type=Path, default=default_image, help="RGB image (default: %(default)s)")
    for kind in ENV:
        env = os.environ.get(ENV[kind])
        parser.add_argument(
            f"--upstream-{kind}",
            type=Path,
            default=Path(env) if env else None,
            help=f"checkout of upstream {kind} (default ${ENV[kind]})",
        )
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_models.json", help="JSON results")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="also write torch.profiler op tables here"
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.clicks = args.clicks or (5 if args.quick else 50)
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in args.families if f != "tiny" and f not in FAMILIES]
    if unknown:
        parser.error(
            f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; known: tiny, {', '.join(FAMILIES)}"
        )
    if not args.image.is_file():
        parser.error(f"image not found: {args.image} (give --image or set SAM_SHARED_DIR)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    cpu = cpu_info()
    flags = ", ".join(f"{f} {'yes' if on else 'no'}" for f, on in cpu["flags"].items())
    print(f"CPU: {cpu['model']} ({cpu['logical_cpus']} logical CPUs); flags: {flags}")
    print(f"torch {torch.__version__}, {threads} threads; Python {platform.python_version()}", flush=True)
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    gemm_repeats = 3 if args.quick else 10
    results: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.models", *(argv if argv is not None else sys.argv[1:])]),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": threads,
        "upstream_allocator": args.upstream_allocator,
        "image": str(args.image),
        "gemm_peak_gflops_start": gemm_peak_gflops(gemm_repeats),
        "families": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        for family in args.families:
            print(f"... {family}", file=sys.stderr, flush=True)
            results["families"][family] = measure_family(family, args, Path(tmp), threads)
    results["gemm_peak_gflops_end"] = gemm_peak_gflops(gemm_repeats)
    results["load_average_end"] = list(os.getloadavg())
    print(render(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {args.out}")
    failed = [f for f, e in results["families"].items() if "error" in e["ours"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
