"""Part 2 of the report: descriptors against labels (tests, CSV, figures and markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.study.config import SEED_PAIRS, AnalyzeConfig
from training.study.descriptors import DESCRIPTOR_NAMES
from training.study.figures import content_figures
from training.study.report import fmt_f, fmt_p, write_tests_csv
from training.study.separability import separability_tests


def content_section(
    x: np.ndarray,
    y: np.ndarray,
    tags: Sequence[str],
    failures: list[tuple[int, str, str]],
    n_selected: int,
    out: Path,
    cfg: AnalyzeConfig,
) -> tuple[list[str], dict[str, Any]]:
    """Tests, figures and markdown of the content-against-labels part."""
    names = list(DESCRIPTOR_NAMES)
    seed_rows = separability_tests(x, y, tags, names, pairs=SEED_PAIRS)
    tag_rows = separability_tests(x, y, tags, names, pairs=None)
    write_tests_csv(
        [{"family": "seed_pairs", **r} for r in seed_rows]
        + [{"family": "tag_present_vs_absent", **r} for r in tag_rows],
        out / "descriptor_tests.csv",
    )
    files = content_figures(x, y, tags, seed_rows, out, cfg.dpi)
    md = [
        "## 2. Content against labels",
        "",
        f"Descriptors of {len(x)} clips (of {n_selected} selected"
        + (f"; {len(failures)} could not be decoded and were skipped" if failures else "")
        + "), decoded at 16 kHz by `tagging.audio.decode` and computed by "
        "`training.study.descriptors` (numpy/scipy: 1024-point Hann STFT, hop 256; 40-band mel; "
        "DCT-II MFCCs; spectral-flux onsets; autocorrelation tempo 40-240 BPM). "
        "Per-clip values are in `descriptors.csv`.",
        "",
        f"![descriptors by tag]({files['boxes']})",
        "",
        "### Do the seed pairs separate without machine learning?",
        "",
        "For each pair A vs B, group A = clips tagged A but not B, group B = tagged B but not A. "
        "Each descriptor alone is tested with a two-sided Mann-Whitney U test; AUC = U/(n_A n_B) "
        "= P(descriptor of an A clip > that of a B clip), i.e. the ROC-AUC of the descriptor as "
        "a one-number classifier; 'AUC*' = max(AUC, 1 - AUC), direction-free; effect = "
        "rank-biserial correlation 2 AUC - 1 (= Cliff's delta). p-values are Holm-corrected over "
        f"all {len(seed_rows)} descriptor x pair tests.",
        "",
    ]
    head: dict[str, Any] = {"n_clips": len(x), "failures": len(failures), "seed_pairs": {}}
    if "seed_violins" in files:
        md += [f"![seed pairs]({files['seed_violins']})", ""]
    pairs = list(dict.fromkeys(r["pair"] for r in seed_rows))
    if not pairs:
        md += ["(No clip carries one tag of a seed pair without the other: nothing to test.)", ""]
    for pair in pairs:
        pair_md, head["seed_pairs"][pair] = _seed_pair(pair, seed_rows, cfg.alpha)
        md += pair_md
    md += [
        "### Each tag, present vs absent",
        "",
        "Best three single descriptors per tag (Mann-Whitney, Holm over all "
        f"{len(tag_rows)} tag x descriptor tests; full table in `descriptor_tests.csv`).",
        "",
        "| tag | n present / absent | best descriptors (AUC*, Holm p) |",
        "|---|---|---|",
    ]
    tag_md, head["per_tag_best"] = _per_tag_best(tags, tag_rows)
    md += tag_md
    md.append("")
    return md, head


def _seed_pair(
    pair: str, seed_rows: list[dict[str, Any]], alpha: float
) -> tuple[list[str], dict[str, Any]]:
    """One seed pair: its best descriptor, how many separate, and the table of all of them."""
    rows = sorted(
        (r for r in seed_rows if r["pair"] == pair), key=lambda r: -np.nan_to_num(r["auc_free"])
    )
    best = rows[0]
    n_sig = sum(1 for r in rows if r["p_holm"] < alpha)
    md = [
        f"**{pair}** (n = {best['n_a']} vs {best['n_b']}): best single descriptor "
        f"**{best['descriptor']}**, AUC* = **{best['auc_free']:.3f}** (Holm p = "
        f"{fmt_p(best['p_holm'])}); {n_sig} of {len(rows)} descriptors differ significantly "
        f"(Holm p < {alpha}); {sum(1 for r in rows if r['auc_free'] >= 0.9)} reach "
        "AUC* >= 0.9.",
        "",
        "| pair | descriptor | median A | median B | AUC (A>B) | AUC* | p | Holm p | effect |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {pair} | {r['descriptor']} | {fmt_f(r['median_a'], '.4g')} | "
            f"{fmt_f(r['median_b'], '.4g')} | {fmt_f(r['auc'])} | {fmt_f(r['auc_free'])} | "
            f"{fmt_p(r['p'])} | {fmt_p(r['p_holm'])} | {fmt_f(r['effect'], '+.3f')} |"
        )
    md.append("")
    head = {
        "n_a": best["n_a"],
        "n_b": best["n_b"],
        "best_descriptor": best["descriptor"],
        "best_auc": best["auc_free"],
        "best_p_holm": best["p_holm"],
        "significant": n_sig,
        "tested": len(rows),
    }
    return md, head


def _per_tag_best(
    tags: Sequence[str], tag_rows: list[dict[str, Any]]
) -> tuple[list[str], dict[str, Any]]:
    """Table rows of the best three descriptors per tag (present vs absent), and the best one."""
    md: list[str] = []
    best: dict[str, Any] = {}
    for t in tags:
        rows = sorted(
            (r for r in tag_rows if r["pair"] == f"{t} vs not {t}"),
            key=lambda r: -np.nan_to_num(r["auc_free"]),
        )
        if not rows:
            md.append(f"| {t} | no contrast | - |")
            continue
        md.append(
            f"| {t} | {rows[0]['n_a']} / {rows[0]['n_b']} | "
            + "; ".join(
                f"{r['descriptor']} {r['auc_free']:.3f} ({fmt_p(r['p_holm'])})" for r in rows[:3]
            )
            + " |"
        )
        best[t] = {"descriptor": rows[0]["descriptor"], "auc": rows[0]["auc_free"]}
    return md, best
