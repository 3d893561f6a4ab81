"""The ``analyze`` command: load a dataset, run the study's three parts, write the report."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from training.constants import data_file
from training.study.clip_descriptors import compute_clip_descriptors
from training.study.config import MTAT_TOTAL_CLIPS, REAL_LABELS_TABLE, AnalyzeConfig
from training.study.figures import label_figures
from training.study.labels import label_statistics
from training.study.report import jsonable, write_pairs_csv
from training.study.section_content import content_section
from training.study.section_labels import label_section
from training.study.section_projections import projection_section
from training.study.sources import StudyData, load_root, load_table, select_clips

log = logging.getLogger(__name__)


ATTRIBUTION = (
    "MagnaTagATune (Law, West, Mandel, Bay & Downie 2009, *Evaluation of algorithms using games: "
    "the case of music tagging*, ISMIR), licensed CC BY-NC-SA 3.0; the top-10 label table comes "
    "via Robak132/LabelThisSongForMe (see `training/data/SOURCES.md`)."
)


def _command_line(args: argparse.Namespace) -> str:
    parts = ["python", "-m", "training", "analyze"]
    for dest, flag in _FLAGS:
        v = getattr(args, dest, None)
        if v is None or v is False:
            continue
        if dest in _DEFAULTS and v == _DEFAULTS[dest]:
            continue
        parts += [flag] if v is True else [flag, str(v)]
    return shlex.join(parts)


_FLAGS = (
    ("mtat_root", "--mtat-root"),
    ("labels_table", "--labels-table"),
    ("real_labels", "--real-labels"),
    ("total_clips", "--total-clips"),
    ("out", "--out"),
    ("checkpoint", "--checkpoint"),
    ("labels_only", "--labels-only"),
    ("max_clips", "--max-clips"),
    ("top_k", "--top-k"),
    ("workers", "--workers"),
    ("seed", "--seed"),
    ("knn_k", "--knn-k"),
    ("tsne_max", "--tsne-max"),
    ("data_kind", "--data-kind"),
    ("no_progress", "--no-progress"),
)
_DEFAULTS = {
    "workers": 2,
    "top_k": 10,
    "seed": 0,
    "knn_k": 10,
    "tsne_max": 2000,
    "data_kind": "auto",
}


def analyze(
    out: Path,
    cfg: AnalyzeConfig,
    mtat_root: Path | None = None,
    labels_table: Path | None = None,
    total_clips: int | None = None,
    labels_only: bool = False,
    checkpoint: Path | None = None,
    command: str = "",
    data_description: str | None = None,
    data_kind: str = "auto",
) -> dict[str, Any]:
    """Run the study and write ``out/report.md`` (+ PNGs, CSVs, ``summary.json``).

    Exactly one of ``mtat_root`` / ``labels_table``. A label table implies ``labels_only``.
    ``data_kind`` ("auto" | "real" | "synthetic") labels an MTAT root; "auto" detects it
    (:func:`training.study.sources.detect_data_kind`). Returns the summary also written to ``summary.json``.
    """
    if data_kind not in ("auto", "real", "synthetic"):
        raise ValueError(f"data_kind must be auto, real or synthetic, not {data_kind!r}")
    if (mtat_root is None) == (labels_table is None):
        raise ValueError("give exactly one of an MTAT root or a label table")
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    if labels_table is not None:
        labels_only = True
        data = load_table(labels_table, total_clips, data_description)
    else:
        assert mtat_root is not None
        data = load_root(mtat_root, cfg.top_k, data_kind)
    summary.update(data=data.kind, source=data.source, tags=list(data.tags))

    st = label_statistics(data.y, data.tags, n_total=data.n_total, alpha=cfg.alpha)
    lfiles = label_figures(st, out, cfg.dpi)
    write_pairs_csv(st, out / "label_pairs.csv")
    label_md, label_head = label_section(st, lfiles, data.note, cfg.alpha, cfg.rare_lift)
    summary["labels"] = label_head

    content_md: list[str] = []
    proj_md: list[str] = []
    n_content = 0
    if not labels_only:
        assert mtat_root is not None
        content_md, proj_md, n_content = _audio_parts(
            data, mtat_root, out, cfg, checkpoint, summary
        )
    header = _header(data, n_content if not labels_only else None, summary["created"], command)
    summary["n_total"] = data.n_total
    summary["n_content"] = n_content
    text = "\n".join(header + label_md + content_md + proj_md) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    log.info("wrote %s", out / "report.md")
    return summary


def _audio_parts(
    data: StudyData,
    root: Path,
    out: Path,
    cfg: AnalyzeConfig,
    checkpoint: Path | None,
    summary: dict[str, Any],
) -> tuple[list[str], list[str], int]:
    """Parts 2 and 3 on the (subsampled) clips that decode: their markdown and clip count.

    Their headline numbers go into ``summary`` under ``content`` and ``projections``.
    """
    sel = select_clips(len(data.paths), cfg.max_clips, cfg.seed)
    ids_sel = [int(data.clip_ids[i]) for i in sel]
    paths_sel = [data.paths[i] for i in sel]
    x, failures = compute_clip_descriptors(
        root, ids_sel, paths_sel, out / "descriptors.csv", cfg.workers, cfg.progress
    )
    ok = np.all(np.isfinite(np.nan_to_num(x, nan=0.0)), axis=1) & ~np.all(np.isnan(x), axis=1)
    x, ysel = x[ok], data.y[sel][ok]
    kept_paths = [p for p, k in zip(paths_sel, ok, strict=True) if k]
    n_content = len(x)
    if n_content < 4:
        raise ValueError(f"only {n_content} clips could be decoded; need at least 4")
    content_md, content_head = content_section(x, ysel, data.tags, failures, len(sel), out, cfg)
    summary["content"] = content_head
    proj_md, proj_head = projection_section(
        x, ysel, data.tags, out, cfg, root, kept_paths, checkpoint
    )
    summary["projections"] = proj_head
    return content_md, proj_md, n_content


def _header(data: StudyData, n_content: int | None, created: str, command: str) -> list[str]:
    """The report's opening lines: data, clips (``n_content`` None: labels only), tags, date."""
    header = [
        f"# Dataset study: {data.kind}",
        "",
        f"- **Data:** {data.source}.",
        f"- **Clips:** {data.n_total} in the label population"
        + (f"; {n_content} with audio descriptors" if n_content is not None else "; labels only")
        + ".",
        f"- **Tags ({len(data.tags)}):** {', '.join(data.tags)}.",
        f"- **Date (UTC):** {created}.",
        f"- **Command:** `{command or 'analyze() called from Python'}`.",
    ]
    if data.kind != "SYNTHETIC MTAT":
        header.append(f"- **Attribution:** {ATTRIBUTION}")
    else:
        header.append(
            "- **Note:** synthetic data. Rerun the same command on a real MTAT root "
            "for statements about MTAT itself."
        )
    header.append("")
    return header


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m training analyze``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mtat-root", type=Path, help="MTAT root (annotations_final.csv + 0..f)")
    src.add_argument(
        "--labels-table",
        type=Path,
        help="tab-separated label table (clip_id, tags, mp3_path): labels only",
    )
    src.add_argument(
        "--real-labels",
        action="store_true",
        help=f"labels only, on the packaged real MTAT top-10 table ({REAL_LABELS_TABLE})",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder for report.md + PNGs")
    p.add_argument(
        "--total-clips",
        type=int,
        default=None,
        help="clips in the population when the label table omits untagged ones "
        f"(default: table rows; {MTAT_TOTAL_CLIPS} with --real-labels)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="best.pt: also project the model's penultimate features",
    )
    p.add_argument("--labels-only", action="store_true", help="skip audio (labels part only)")
    p.add_argument(
        "--max-clips",
        type=int,
        default=None,
        help="deterministic subsample of clips for the audio parts",
    )
    p.add_argument("--top-k", type=int, default=10, help="most frequent tags to study")
    p.add_argument("--workers", type=int, default=2, help="descriptor worker processes")
    p.add_argument("--seed", type=int, default=0, help="subsampling / t-SNE seed")
    p.add_argument("--knn-k", type=int, default=10, help="neighbours for k-NN purity")
    p.add_argument("--tsne-max", type=int, default=2000, help="most clips in a t-SNE")
    p.add_argument(
        "--data-kind",
        choices=("auto", "real", "synthetic"),
        default="auto",
        help="label an MTAT root as real or synthetic (auto: match its clips against "
        "the real MTAT clip list)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """CLI entry point."""
    if args.max_clips is not None and args.max_clips < 1:
        raise SystemExit("--max-clips must be positive")
    if args.checkpoint is not None and (args.labels_only or args.mtat_root is None):
        raise SystemExit("--checkpoint needs audio: give --mtat-root without --labels-only")
    cfg = AnalyzeConfig(
        top_k=args.top_k,
        max_clips=args.max_clips,
        workers=args.workers,
        seed=args.seed,
        knn_k=args.knn_k,
        tsne_max=args.tsne_max,
        progress=not args.no_progress,
    )
    desc = None
    table = args.labels_table
    total = args.total_clips
    if args.real_labels:
        table = data_file(REAL_LABELS_TABLE)
        total = MTAT_TOTAL_CLIPS if total is None else total
        desc = (
            f"**real MTAT labels**: the packaged top-10 label table `training/data/"
            f"{REAL_LABELS_TABLE}` (labels only, no audio; {MTAT_TOTAL_CLIPS} clips in "
            "MTAT's annotations_final.csv)"
        )
    summary = analyze(
        args.out,
        cfg,
        mtat_root=args.mtat_root,
        labels_table=table,
        total_clips=total,
        labels_only=args.labels_only,
        checkpoint=args.checkpoint,
        command=_command_line(args),
        data_description=desc,
        data_kind=args.data_kind,
    )
    print(f"wrote {args.out / 'report.md'} ({summary['data']}, {summary['n_total']} clips)")
    return 0
