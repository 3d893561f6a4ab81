"""Part 1 of the report: the label statistics in markdown, with their headline numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from training.study.labels import LabelStats
from training.study.report import fmt_f, fmt_p


def label_section(
    st: LabelStats, files: dict[str, str], note: str, alpha: float, rare_lift: float
) -> tuple[list[str], dict[str, Any]]:
    """Markdown of the label part and its headline numbers."""
    tags = list(st.tags)
    md = ["## 1. Labels", ""]
    if note:
        md += [note, ""]
    md += [
        f"Population: **{st.n_total}** clips ({st.n_rows} rows in the label matrix), "
        f"**{len(tags)}** tags.",
        "",
        f"![tag frequencies]({files['frequencies']})",
        "",
        "| tag | clips | share |",
        "|---|---:|---:|",
    ]
    for t, c in zip(tags, st.counts, strict=True):
        md.append(f"| {t} | {int(c)} | {100 * c / st.n_total:.2f}% |")
    md += [
        "",
        "### Label cardinality",
        "",
        f"Mean tags per clip: **{st.mean_cardinality:.3f}** over all {st.n_total} clips "
        f"({sum(k * v for k, v in st.cardinality.items()) / max(st.n_total - st.cardinality.get(0, 0), 1):.3f} "
        f"over the clips with at least one tag). Clips with **none** of these tags: "
        f"**{st.cardinality.get(0, 0)}** ({100 * st.share_none:.1f}%).",
        "",
        f"![cardinality]({files['cardinality']})",
        "",
        "| tags per clip | clips | share |",
        "|---:|---:|---:|",
    ]
    for k, v in st.cardinality.items():
        md.append(f"| {k} | {v} | {100 * v / st.n_total:.2f}% |")
    md += [
        "",
        "### Co-occurrence",
        "",
        "Left: clips carrying both tags (diagonal: the tag's count). Right: P(column | row) "
        "= n(row, column) / n(row).",
        "",
        f"![co-occurrence]({files['cooccurrence']})",
        "",
        "### Lift, PMI and significance",
        "",
        f"Lift = P(A,B) / (P(A) P(B)) with probabilities over the {st.n_total} clips; "
        "PMI = log2(lift) in bits (-inf: never together). Each pair's 2x2 table is tested with "
        "Fisher's exact test (two-sided); p-values are corrected with Benjamini-Hochberg over "
        f"the {len(st.pairs)} pairs (q < {alpha} marked significant).",
        "",
        f"![lift and PMI]({files['lift_pmi']})",
        "",
    ]
    sig = [p for p in st.pairs if p["significant"]]
    neg = [p for p in sig if p["lift"] < 1]
    pos = [p for p in sig if p["lift"] > 1]
    rare = sorted((p for p in sig if p["lift"] < rare_lift), key=lambda p: p["lift"])
    md.append(
        f"{len(sig)} of {len(st.pairs)} pairs deviate significantly from independence: "
        f"{len(pos)} attract (lift > 1), {len(neg)} avoid each other (lift < 1)."
    )
    md.append("")
    ct = next((p for p in st.pairs if {p["a"], p["b"]} == {"classical", "techno"}), None)
    md += _rare_pairs_md(rare, ct, rare_lift)
    md += [
        "All pairs, by PMI:",
        "",
        "| A | B | n(A) | n(B) | n(A,B) | expected | P(B given A) | P(A given B) | lift | PMI (bits) "
        "| odds ratio | Fisher p | BH q |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    md += _pairs_table_rows(st.pairs)
    md.append("")
    headline = {
        "n_total": st.n_total,
        "n_rows": st.n_rows,
        "tags": tags,
        "tag_counts": {t: int(c) for t, c in zip(tags, st.counts, strict=True)},
        "mean_cardinality": st.mean_cardinality,
        "share_none": st.share_none,
        "cardinality": {str(k): v for k, v in st.cardinality.items()},
        "significant_pairs": len(sig),
        "pairs": len(st.pairs),
        "rare_pairs": [
            {k: p[k] for k in ("a", "b", "n_ab", "expected", "lift", "p", "q")} for p in rare
        ],
        "classical_techno": None
        if ct is None
        else {k: ct[k] for k in ("n_ab", "expected", "lift", "pmi", "p", "q")},
    }
    return md, headline


def _rare_pairs_md(
    rare: list[dict[str, Any]], ct: dict[str, Any] | None, rare_lift: float
) -> list[str]:
    """The pairs that almost never co-occur, and classical & techno if it is not among them."""
    md: list[str] = []
    if rare:
        md.append(f"**Pairs that almost never co-occur** (significant, lift < {rare_lift}):")
        md.append("")
        for p in rare:
            md.append(
                f"- **{p['a']} & {p['b']}**: together in {p['n_ab']} clips where "
                f"independence predicts {p['expected']:.1f} (n({p['a']}) = {p['n_a']}, "
                f"n({p['b']}) = {p['n_b']}); P({p['b']}|{p['a']}) = {p['p_b_given_a']:.4f}, "
                f"lift {p['lift']:.3f}, PMI {fmt_f(p['pmi'], '.2f')} bits, "
                f"Fisher p = {fmt_p(p['p'])}, BH q = {fmt_p(p['q'])}."
            )
        md.append("")
    if ct is not None and ct not in rare:
        md += [
            f"classical & techno: together in {ct['n_ab']} clips vs {ct['expected']:.1f} "
            f"expected (lift {ct['lift']:.3f}, p = {fmt_p(ct['p'])}, q = {fmt_p(ct['q'])}).",
            "",
        ]
    return md


def _pairs_table_rows(pairs: list[dict[str, Any]]) -> list[str]:
    """One table row per pair, by PMI (highest first; never-together pairs last)."""
    md: list[str] = []
    for p in sorted(pairs, key=lambda p: -np.nan_to_num(p["pmi"], neginf=-1e9)):
        md.append(
            f"| {p['a']} | {p['b']} | {p['n_a']} | {p['n_b']} | {p['n_ab']} | "
            f"{p['expected']:.1f} | {p['p_b_given_a']:.3f} | {p['p_a_given_b']:.3f} | "
            f"{p['lift']:.3f} | {fmt_f(p['pmi'], '.2f')} | {fmt_f(p['odds_ratio'], '.3g')} | "
            f"{fmt_p(p['p'])} | {fmt_p(p['q'])}{' *' if p['significant'] else ''} |"
        )
    return md
