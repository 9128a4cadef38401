"""Studies: a TOML config of sections, run as checkpointed stages into a run directory with results, report, figures.

A study config has a ``[study]`` table (name, seed) and one table per :class:`Section` to run (a section absent from
the config is skipped). Each section is registered in :data:`SECTIONS` by its module (listed in
``_SECTION_MODULES``): it declares its options, splits its work into :class:`Stage` s (each a pure function of the
config and a seed, checkpointed while it runs and saved to ``stages/<stage>.h5`` when done), and turns the stage results
into an analysis, a report section and figures. A killed run is resumed by :func:`run_study` with ``resume=run_dir``:
finished stages are read back, the running one continues from its last checkpoint, so the results are bitwise those of
an uninterrupted run.

Run directory ``runs/<name>/``::

    config.toml      the resolved config (rerun it with `jaxrg run runs/<name>/config.toml`)
    results.h5       every array of every section, plus metadata (config, seed, versions, device)
    report.md        tables (measured vs exact) and the figures
    figures/*.png
    stages/*.h5      finished stages (what a resumed run reads back)
    checkpoints/     checkpoints of the running stage (removed when it finishes)
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from jaxrg import files
from jaxrg.checkpoints import CheckpointError
from jaxrg.config import ConfigError, Option, read_toml, resolve

__all__ = [
    "Stage",
    "Section",
    "SECTIONS",
    "register_section",
    "default_config_text",
    "documented_default_config",
    "load_config",
    "run_study",
    "stage_seed",
]


@dataclass(frozen=True)
class Stage:
    """One checkpointed piece of work of a section.

    Attributes:
        name: unique, file-safe (``"sweep-L16"``).
        run: ``run(checkpoint_dir, progress) -> dict`` tree of numpy arrays (written to ``stages/<name>.h5``).
        fingerprint: hash of everything that determines the result (a stage file with another one is refused).
    """

    name: str
    run: Callable[[Path, bool], dict]
    fingerprint: str


@dataclass(frozen=True)
class Section:
    """A part of a study (a ``[name]`` table in the config).

    Attributes:
        name: the TOML table name.
        title: heading in the report.
        options: the table's keys.
        stages: ``stages(config, seed) -> list[Stage]`` (``config``: this section's resolved table).
        analyze: ``analyze(config, stage_results) -> dict`` (cheap, deterministic; ``stage_results``: name -> tree).
        report: ``report(config, results) -> str`` markdown (``results``: stage trees and ``"analysis"``).
        figures: ``figures(config, results, figure_dir) -> list[(file name, caption)]``.
        summary: ``summary(config, results) -> dict`` of headline numbers (printed, and returned by ``--json``).
        check: ``check(config)`` raising ValueError for values valid one by one but not together (before any work).
    """

    name: str
    title: str
    options: tuple[Option, ...]
    stages: Callable[[dict, int], list[Stage]]
    analyze: Callable[[dict, dict], dict]
    report: Callable[[dict, dict], str]
    figures: Callable[[dict, dict, Path], list[tuple[str, str]]]
    summary: Callable[[dict, dict], dict]
    check: Callable[[dict], None] | None = None


SECTIONS: dict[str, Section] = {}

# Modules whose import registers a section, in report order; a capability adds its module here.
_SECTION_MODULES = ("jaxrg.study.sweep", "jaxrg.study.trg", "jaxrg.study.mcrg", "jaxrg.study.flow",
                    "jaxrg.study.inverse")

STUDY_OPTIONS = (
    Option("name", "str", "ising-critical", "run directory name prefix (a UTC time stamp is appended)"),
    Option("seed", "int", 2026, "seed of the whole study (each stage derives its own)", minimum=0),
)


def register_section(section: Section) -> Section:
    """Add ``section`` to :data:`SECTIONS`."""
    SECTIONS[section.name] = section
    return section


def _load_sections() -> None:
    """Import the section modules and put :data:`SECTIONS` in their order (the report's order)."""
    for module in _SECTION_MODULES:
        importlib.import_module(module)
    rank = {m: i for i, m in enumerate(_SECTION_MODULES)}
    ordered = sorted(SECTIONS.items(), key=lambda kv: rank.get(kv[1].stages.__module__, len(rank)))
    SECTIONS.clear()
    SECTIONS.update(ordered)


def stage_seed(seed: int, stage: str) -> int:
    """A seed for ``stage`` derived from the study seed (stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}:{stage}".encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def default_config_text() -> str:
    """The embedded default study config (``jaxrg/data/default_study.toml``)."""
    return importlib.resources.files("jaxrg").joinpath("data/default_study.toml").read_text()


def documented_default_config() -> str:
    """The default study config followed, table by table, by every other key that can be set (commented out).

    What ``jaxrg run --show-default`` prints: uncommenting a line sets that key; every value shown is its default.
    """
    import tomllib

    _load_sections()
    text = default_config_text().rstrip("\n")
    raw = tomllib.loads(text)
    lines = [text, "", "# ---- every other key that can be set, with its default (uncomment to change it) ----"]
    for table, options in (("study", STUDY_OPTIONS), *((k, sec.options) for k, sec in SECTIONS.items())):
        given = raw.get(table, {})
        rest = [o for o in options if o.name not in given]
        if not rest:
            continue
        absent = "" if table in raw else "  (not in the default study: add the table to run it)"
        lines += ["", f"# [{table}]{absent}"]
        for o in rest:
            value = "(unset)" if o.default is None else _toml_value(o.default)
            lines.append(f"# {o.name} = {value}  # {o.help}")
    return "\n".join(lines) + "\n"


def load_config(path: str | Path | None = None) -> dict[str, dict]:
    """Read and check a study config (the embedded default when ``path`` is None).

    Returns:
        ``{"study": {...}, section: {...}, ...}`` with every key resolved (defaults filled in).

    Raises:
        ConfigError: unknown tables or keys, invalid values (naming them).
    """
    import tomllib

    _load_sections()
    if path is None:
        raw = tomllib.loads(default_config_text())
        where = "default config"
    else:
        raw = read_toml(path)
        where = str(path)
    unknown = [k for k in raw if k != "study" and k not in SECTIONS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown table{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}; "
            f"allowed: 'study', {', '.join(repr(k) for k in SECTIONS)}"
        )
    for k, v in raw.items():
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: {k!r} must be a table ([{k}]), got {v!r}")
    config = {"study": resolve(STUDY_OPTIONS, raw.get("study", {}), where="[study]")}
    for name, section in SECTIONS.items():
        if name in raw:
            config[name] = resolve(section.options, raw[name], where=f"[{name}]")
            if section.check is not None:
                try:
                    section.check(config[name])
                except ValueError as e:
                    raise ConfigError(f"{where}: {e}") from None
    if len(config) == 1:
        raise ConfigError(f"{where}: no section to run; add at least one of {', '.join(f'[{k}]' for k in SECTIONS)}")
    return config


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def config_to_toml(config: dict[str, dict]) -> str:
    """The resolved config as TOML (unset optional keys omitted); :func:`load_config` reads it back unchanged."""
    lines = ["# Resolved jaxrg study config: rerun with `jaxrg run config.toml`", ""]
    for table, values in config.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def _read_stage(path: Path, stage: Stage, log: Callable[[str], None]) -> dict | None:
    """A finished stage's results, or None (the file is removed) when the file is damaged and must be recomputed."""
    try:
        tree, attrs = files.read_hdf5(path)
    except files.CorruptFileError as e:
        log(f"{stage.name}: {e}; recomputing the stage")
        path.unlink(missing_ok=True)
        return None
    if attrs.get("fingerprint") != stage.fingerprint:
        raise CheckpointError(
            f"{path} was written by a different configuration (stage fingerprint mismatch): "
            "the run directory's config.toml was changed; restore it or start a new run"
        )
    return tree


def run_study(
    config: dict[str, dict] | None = None,
    *,
    output_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[Path, dict]:
    """Run (or resume) a study and write its run directory.

    Args:
        config: resolved config from :func:`load_config` (ignored when resuming; the run directory's is used).
        output_dir: parent of new run directories.
        name: run directory name (default: ``<study.name>-<UTC time stamp>``).
        resume: an existing run directory to continue.
        progress: progress bars over chunks.
        log: called with one line per step.

    Returns:
        ``(run_dir, summary)`` with the headline numbers of every section.
    """
    t0 = time.perf_counter()
    _load_sections()
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.toml").is_file():
            raise ConfigError(f"--resume {run_dir}: not a jaxrg run directory (no config.toml)")
        files.check_writable_directory(run_dir, "run directory")
        config = load_config(run_dir / "config.toml")
        for d in (run_dir, run_dir / "stages", run_dir / "figures", *sorted(run_dir.glob("checkpoints/*"))):
            for p in files.remove_stale_temporaries(d):
                log(f"removed {p} (left by an interrupted write)")
        log(f"resuming {run_dir}")
    else:
        if config is None:
            config = load_config(None)
        name = name or f"{config['study']['name']}-{files.utc_timestamp()}"
        if not name or "/" in name or name in (".", ".."):
            raise ConfigError(f"run name {name!r} must be a plain directory name (no '/')")
        files.check_writable_directory(output_dir, "output directory")
        try:
            run_dir = files.new_run_directory(output_dir, name)
        except FileExistsError:
            raise ConfigError(
                f"run directory {Path(output_dir) / name} exists: resume it with --resume, or choose another --name"
            ) from None
        files.write_text(run_dir / "config.toml", config_to_toml(config))
        log(f"run directory {run_dir} (if stopped, continue with: jaxrg run --resume {run_dir})")
    try:
        return _run_sections(config, run_dir, t0, progress, log)
    except KeyboardInterrupt as e:
        e.add_note(f"continue with: jaxrg run --resume {run_dir}")
        raise
    except OSError as e:  # a file-system fault during the work: finished stages are on disk already
        e.add_note(f"finished stages are kept in {run_dir / 'stages'}; after fixing the cause, continue with: "
                   f"jaxrg run --resume {run_dir}")
        raise


def _run_sections(config: dict[str, dict], run_dir: Path, t0: float, progress: bool,
                  log: Callable[[str], None]) -> tuple[Path, dict]:
    """Run every section's stages (reading back finished ones), analyse, and write results, report and figures."""
    seed = config["study"]["seed"]
    results: dict[str, dict] = {}
    for sec_name, section in SECTIONS.items():
        if sec_name not in config:
            continue
        cfg = config[sec_name]
        stage_results = {}
        for stage in section.stages(cfg, seed):
            stage_file = run_dir / "stages" / f"{stage.name}.h5"
            if stage_file.exists():
                tree = _read_stage(stage_file, stage, log)
                if tree is not None:
                    stage_results[stage.name] = tree
                    log(f"{stage.name}: done earlier, read back")
                    continue
            ckpt = run_dir / "checkpoints" / stage.name
            ckpt.mkdir(parents=True, exist_ok=True)
            ts = time.perf_counter()
            resumed = any(ckpt.iterdir())
            log(f"{stage.name}: {'resuming from checkpoint' if resumed else 'running'}")
            tree = stage.run(ckpt, progress)
            files.write_hdf5(stage_file, tree, attrs={"fingerprint": stage.fingerprint})
            shutil.rmtree(ckpt, ignore_errors=True)
            stage_results[stage.name] = tree
            log(f"{stage.name}: {time.perf_counter() - ts:.1f} s")
        analysis = section.analyze(cfg, stage_results)
        results[sec_name] = dict(stage_results, analysis=analysis)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)

    figure_dir = run_dir / "figures"
    figure_dir.mkdir(exist_ok=True)
    figures, summary = {}, {}
    for sec_name, res in results.items():
        section = SECTIONS[sec_name]
        figures[sec_name] = section.figures(config[sec_name], res, figure_dir)
        summary[sec_name] = section.summary(config[sec_name], res)
    wall = time.perf_counter() - t0
    meta = files.environment_metadata()
    attrs = {"config": config, "config_toml": config_to_toml(config), "seed": seed, "name": run_dir.name,
             "created_utc": files.utc_timestamp(), "wall_time_s_last_invocation": wall, **meta}
    files.write_hdf5(run_dir / "results.h5", results, attrs=attrs)
    files.write_text(run_dir / "report.md", _report(config, results, figures, meta, run_dir.name, wall))
    log(f"wrote {run_dir / 'results.h5'}, {run_dir / 'report.md'} and {len(sum(figures.values(), []))} figures "
        f"({wall:.0f} s)")
    return run_dir, summary


def _report(config, results, figures, meta, name, wall) -> str:
    lines = [
        f"# jaxrg study `{name}`",
        "",
        f"Seed {config['study']['seed']}; jaxrg {meta['jaxrg_version']}, jax {meta['jax_version']}, "
        f"device `{meta['device']}`, host `{meta['hostname']}`; {wall:.0f} s (last invocation). "
        "Every number below is stored in `results.h5` (config in `config.toml`).",
        "",
    ]
    for sec_name, res in results.items():
        section = SECTIONS[sec_name]
        lines += [f"## {section.title}", "", section.report(config[sec_name], res).rstrip(), ""]
        for fname, caption in figures[sec_name]:
            lines += [f"![{Path(fname).stem}](figures/{fname})", "", f"*{caption}*", ""]
    return "\n".join(lines)
