"""Tagging results of the CLI as a table, JSON or CSV: render and read back (to resume;
written atomically by ``tagging.files.atomic_write_text``)."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("table", "json", "csv")
CSV_FIELDS = ("file", "model", "duration_s", "rank", "tag", "probability")
TABLE_COLUMNS = ("file", "model", "seconds", "tags")


@dataclass(frozen=True)
class TagRecord:
    """One tagged file: its top tags, high to low."""

    file: str
    model: str
    duration_s: float
    tags: list[tuple[str, float]]

    def key(self) -> tuple[str, str]:
        """What a rerun matches on: the file (absolute) and the model."""
        return os.path.abspath(self.file), self.model


def render(records: list[TagRecord], fmt: str) -> str:
    """The records as text in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        rows = [
            {
                "file": r.file,
                "model": r.model,
                "duration_s": round(r.duration_s, 3),
                "tags": [{"tag": t, "probability": round(p, 4)} for t, p in r.tags],
            }
            for r in records
        ]
        return json.dumps(rows, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in records:
            for rank, (tag, p) in enumerate(r.tags, start=1):
                writer.writerow([r.file, r.model, f"{r.duration_s:.3f}", rank, tag, f"{p:.4f}"])
        return buf.getvalue()
    if fmt == "table":
        return _table(records)
    raise ValueError(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")


def _table(records: list[TagRecord]) -> str:
    rows = [
        (r.file, r.model, f"{r.duration_s:.1f}", ", ".join(f"{t} {p:.3f}" for t, p in r.tags))
        for r in records
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(TABLE_COLUMNS)]
    lines = [TABLE_COLUMNS, *rows]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=False))
        + "  "
        + line[-1]
        + "\n"
        for line in lines
    )


def parse(text: str, fmt: str) -> list[TagRecord]:
    """Records back from :func:`render`'s output (ValueError if the text is not that format)."""
    if not text.strip():
        return []
    if fmt == "json":
        return [
            TagRecord(
                r["file"],
                r["model"],
                float(r["duration_s"]),
                [(t["tag"], float(t["probability"])) for t in r["tags"]],
            )
            for r in json.loads(text)
        ]
    if fmt == "csv":
        grouped: dict[tuple[str, str], TagRecord] = {}
        for row in csv.DictReader(io.StringIO(text)):
            key = (row["file"], row["model"])
            record = grouped.setdefault(key, TagRecord(*key, float(row["duration_s"]), []))
            record.tags.append((row["tag"], float(row["probability"])))
        return list(grouped.values())
    return _parse_table(text)


def _parse_table(text: str) -> list[TagRecord]:
    header, *lines = text.splitlines()
    # Columns are padded: each starts where its name starts in the header.
    starts = [
        header.index(h) if i == 0 else header.index(f"  {h}") + 2
        for i, h in enumerate(TABLE_COLUMNS)
    ]
    records = []
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        tags = [pair.rsplit(" ", 1) for pair in cells[3].split(", ")] if cells[3] else []
        records.append(
            TagRecord(cells[0], cells[1], float(cells[2]), [(t, float(p)) for t, p in tags])
        )
    return records


def read(path: Path, fmt: str) -> list[TagRecord]:
    """The records already in ``path`` ([] if it does not exist)."""
    if not path.exists():
        return []
    try:
        return parse(path.read_text(encoding="utf-8"), fmt)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(
            f"{path} exists but is not a {fmt} results file written by this command ({exc}); "
            "remove it or choose another --out"
        ) from exc
