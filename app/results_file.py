"""Tagging results of the CLI as a table, JSON or CSV: render and read back (to resume;
written atomically by ``tagging.files.atomic_write_text``).

Each record carries its decisions: ``labels`` (the decided tags, null when nothing was decided),
the ``policy`` and per tag its ``threshold`` and ``present``. Files written before decisions
existed (no ``labels`` / ``threshold`` / ``present`` columns) are still read: their records have
``policy`` None and no labels.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("table", "json", "csv")
CSV_FIELDS = (
    "file",
    "model",
    "duration_s",
    "heard_s",
    "rank",
    "tag",
    "probability",
    "threshold",
    "present",
    "policy",
    "labels",
)
TABLE_COLUMNS = ("file", "model", "seconds", "labels", "tags")
OLD_TABLE_COLUMNS = ("file", "model", "seconds", "tags")  # before decisions
LABEL_SEPARATOR = "; "
NO_LABELS = "(none)"  # decided, nothing present
UNDECIDED = "(undecided)"  # nothing decided


@dataclass(frozen=True)
class TagRecord:
    """One tagged file: its top tags, high to low, and what was decided.

    ``thresholds`` and ``present`` run parallel to ``tags`` (empty when not recorded);
    ``labels`` is None when nothing was decided (``policy`` none, an uncalibrated model without
    a threshold, or a record from a file written before decisions, ``policy`` None).
    """

    file: str
    model: str
    duration_s: float
    tags: list[tuple[str, float]]
    labels: list[str] | None = None
    policy: str | None = None
    thresholds: list[float | None] = field(default_factory=list)
    present: list[bool | None] = field(default_factory=list)
    heard_s: float | None = None  # seconds of the track the clip-level answer heard
    embedding: list[float] | None = None  # the clip's embedding (JSON files, --embedding)

    def decision(self, i: int) -> tuple[float | None, bool | None]:
        """The ``i``-th tag's threshold and presence (None, None when not recorded)."""
        if i >= len(self.thresholds):
            return None, None
        return self.thresholds[i], self.present[i]

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
                "heard_s": None if r.heard_s is None else round(r.heard_s, 3),
                "policy": r.policy,
                "labels": r.labels,
                "tags": [_json_tag(r, i) for i in range(len(r.tags))],
                **({} if r.embedding is None else {"embedding": r.embedding}),
            }
            for r in records
        ]
        return json.dumps(rows, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in records:
            labels = "" if r.labels is None else LABEL_SEPARATOR.join(r.labels)
            for rank, (tag, p) in enumerate(r.tags, start=1):
                threshold, present = r.decision(rank - 1)
                writer.writerow(
                    [r.file, r.model, f"{r.duration_s:.3f}", _heard(r), rank, tag, f"{p:.4f}"]
                    + ["" if threshold is None else f"{threshold:.4f}"]
                    + ["" if present is None else str(present).lower(), r.policy or "", labels]
                )
        return buf.getvalue()
    if fmt == "table":
        return _table(records)
    raise ValueError(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")


def _heard(r: TagRecord) -> str:
    return "" if r.heard_s is None else f"{r.heard_s:.3f}"


def _json_tag(r: TagRecord, i: int) -> dict:
    threshold, present = r.decision(i)
    tag, p = r.tags[i]
    rounded = None if threshold is None else round(threshold, 4)
    return {"tag": tag, "probability": round(p, 4), "threshold": rounded, "present": present}


def labels_text(labels: list[str] | None) -> str:
    """Labels as the table shows them: joined, :data:`NO_LABELS` or :data:`UNDECIDED`."""
    if labels is None:
        return UNDECIDED
    return LABEL_SEPARATOR.join(labels) if labels else NO_LABELS


def _labels_from_text(text: str) -> list[str] | None:
    if text == UNDECIDED:
        return None
    return [] if text == NO_LABELS else text.split(LABEL_SEPARATOR)


def _table(records: list[TagRecord]) -> str:
    rows = [
        (
            r.file,
            r.model,
            f"{r.duration_s:.1f}",
            labels_text(r.labels),
            ", ".join(f"{t} {p:.3f}" for t, p in r.tags),
        )
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
        return [_json_record(r) for r in json.loads(text)]
    if fmt == "csv":
        return _parse_csv(text)
    return _parse_table(text)


def _json_record(r: dict) -> TagRecord:
    tags = r["tags"]
    decided = r.get("policy") is not None and all("present" in t for t in tags)
    return TagRecord(
        r["file"],
        r["model"],
        float(r["duration_s"]),
        [(t["tag"], float(t["probability"])) for t in tags],
        labels=r.get("labels"),
        policy=r.get("policy"),
        thresholds=[_float(t.get("threshold")) for t in tags] if decided else [],
        present=[t.get("present") for t in tags] if decided else [],
        heard_s=_float(r.get("heard_s")),
        embedding=r.get("embedding"),
    )


def _float(value: object) -> float | None:
    return None if value is None or value == "" else float(value)  # type: ignore[arg-type]


def _parse_csv(text: str) -> list[TagRecord]:
    grouped: dict[tuple[str, str], TagRecord] = {}
    reader = csv.DictReader(io.StringIO(text))
    decisions = "present" in (reader.fieldnames or ())  # absent in files before decisions
    for row in reader:
        key = (row["file"], row["model"])
        record = grouped.get(key)
        if record is None:
            policy = row["policy"] or None if decisions else None
            labels = row["labels"] if decisions and row["present"] else None
            record = TagRecord(
                *key,
                float(row["duration_s"]),
                [],
                labels=None if labels is None else [t for t in labels.split(LABEL_SEPARATOR) if t],
                policy=policy,
                heard_s=_float(row.get("heard_s")),  # absent in files before coverage
            )
            grouped[key] = record
        record.tags.append((row["tag"], float(row["probability"])))
        if decisions:
            record.thresholds.append(_float(row["threshold"]))
            record.present.append({"true": True, "false": False}.get(row["present"]))
    return list(grouped.values())


def _parse_table(text: str) -> list[TagRecord]:
    header, *lines = text.splitlines()
    columns = TABLE_COLUMNS if "  labels" in header else OLD_TABLE_COLUMNS
    # Columns are padded: each starts where its name starts in the header.
    starts = [
        header.index(h) if i == 0 else header.index(f"  {h}") + 2 for i, h in enumerate(columns)
    ]
    records = []
    for line in lines:
        cells = dict(
            zip(
                columns,
                [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)],
                strict=True,
            )
        )
        tags = [pair.rsplit(" ", 1) for pair in cells["tags"].split(", ")] if cells["tags"] else []
        labels = _labels_from_text(cells.get("labels", UNDECIDED))
        records.append(
            TagRecord(
                cells["file"],
                cells["model"],
                float(cells["seconds"]),
                [(t, float(p)) for t, p in tags],
                labels=labels,
            )
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
