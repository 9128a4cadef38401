"""``jaxrg run [CONFIG.toml]``: run a study (the default one without a config) into ``runs/<name>/``."""

from __future__ import annotations

import argparse

from jaxrg.cli import Command, Context, register
from jaxrg.config import ConfigError


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG.toml",
                        help="study config (default: the embedded default study, see `jaxrg run --show-default`)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its checkpoints")
    parser.add_argument("--output-dir", default="runs", metavar="DIR", help="parent of run directories (default: runs)")
    parser.add_argument("--name", help="run directory name (default: <study name>-<UTC time stamp>)")
    parser.add_argument("--show-default", action="store_true",
                        help="print the default study config, then every other settable key with its default, and exit")
    dist = parser.add_argument_group("multi-host (see docs/distributed.md)")
    dist.add_argument("--distributed", action="store_true",
                      help="start jax.distributed first: one process per host, all devices of all hosts share the run "
                      "(needs --name or --resume; run directory on a shared filesystem)")
    dist.add_argument("--coordinator-address", metavar="HOST:PORT",
                      help="process 0's address (default: JAX_COORDINATOR_ADDRESS or SLURM/TPU auto-detection)")
    dist.add_argument("--num-processes", type=int, metavar="N",
                      help="number of processes (default: JAX_NUM_PROCESSES or auto-detection)")
    dist.add_argument("--process-id", type=int, metavar="I",
                      help="this process in [0, N) (default: JAX_PROCESS_ID or auto-detection)")


def execute(config: dict, ctx: Context) -> dict:
    """Run or resume a study; print where its report is and the headline numbers."""
    from jaxrg import study

    args = ctx.args
    if args.show_default:
        text = study.documented_default_config()
        ctx.out(text)
        return {"default_config": text}
    if args.resume and (args.config or args.name):
        raise ConfigError("--resume RUN_DIR continues a run with its own config: do not give CONFIG or --name")
    if getattr(args, "distributed", False):  # multi-host: every process runs this same command
        from jaxrg import parallel

        if not (args.name or args.resume):
            raise ConfigError("--distributed needs --name NAME (or --resume RUN_DIR): all processes share one run dir")
        index, count = parallel.start_distributed(args.coordinator_address, args.num_processes, args.process_id)
        ctx.log(f"jax.distributed: process {index} of {count}, {len(parallel.resolve_devices())} devices in all")
    cfg = None if args.resume else study.load_config(args.config)
    run_dir, summary = study.run_study(cfg, output_dir=args.output_dir, name=args.name, resume=args.resume,
                                       progress=ctx.progress, log=ctx.log)
    lines = [f"report: {run_dir / 'report.md'}"]
    for section, values in summary.items():
        for k, v in values.items():
            if not k.endswith(("_error", "_exact")):
                err = values.get(f"{k}_error")
                ex = values.get(f"{k}_exact")
                line = f"  {section}.{k} = {v:.6g}"
                if err is not None:
                    line += f" +- {err:.2g}"
                if ex is not None:
                    line += f"  (exact {ex:.6g})"
                lines.append(line)
    ctx.out("\n".join(lines))
    return {"run_dir": str(run_dir), "summary": summary}


register(Command(
    name="run",
    help="run a study (default: the 2D Ising critical point, a few minutes on a CPU) into runs/<name>/",
    options=(),
    execute=execute,
    description="Run a study config (TOML) and write runs/<name>/ with results.h5, report.md and figures/. "
    "Without CONFIG the embedded default study runs. A killed run continues with --resume runs/<name>, "
    "bitwise identical to an uninterrupted one.",
    configure=_configure,
    takes_config=False,
))
