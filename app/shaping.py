"""Which of a model's tags a caller gets back, and how many: shared by ``POST /predict`` (and
so the page, which shows its JSON) and the command line.

By default the project's ten tags are ranked (all of a model's tags with ``all_tags``, or for a
model of at most ten); ``top_k`` of them are returned, most probable first. A bad ``top_k``
raises :class:`app.errors.InvalidOptionError` naming the option as the caller spelled it
(:data:`QUERY` or :data:`COMMAND_LINE`).

Decisions (:func:`decision_rule`, :mod:`tagging.decisions`): the ranked tags whose probability
reaches their threshold under the chosen policy are the answer's ``labels``; a bad policy or
threshold is an :class:`InvalidOptionError` too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import InvalidOptionError
from app.schemas import Decision, TagProbability, TagSet
from tagging.card import ModelCard
from tagging.constants import TOP10_TAGS
from tagging.decisions import DecisionRule, InvalidDecisionError, rule_for


@dataclass(frozen=True)
class Options:
    """How a caller spells the two options, for messages."""

    top_k: str  # dotted location of the top_k option ("query.top_k")
    all_tags: str  # the setting that ranks all of a model's tags
    policy: str  # the threshold policy option
    threshold: str  # the fixed threshold option
    embedding: str  # the option asking for the clip's embedding


QUERY = Options(
    top_k="query.top_k",
    all_tags="all_tags=true",
    policy="query.threshold_policy",
    threshold="query.threshold",
    embedding="query.embedding",
)
COMMAND_LINE = Options(
    top_k="--top-k",
    all_tags="--all-tags",
    policy="--threshold-policy",
    threshold="--threshold",
    embedding="--embedding",
)


def check_embedding(model: str, card: ModelCard, wanted: bool, options: Options) -> None:
    """:class:`InvalidOptionError` when the embedding is asked of a model without one (raised
    before any work is done)."""
    if wanted and card.embedding is None:
        msg = (
            f"model {model!r} has no embedding output (its card names none; python -m training "
            "add-embedding adds it)"
        )
        raise InvalidOptionError(
            f"invalid request: {options.embedding}: {msg}",
            errors=[{"loc": options.embedding.split("."), "msg": msg, "type": "value_error"}],
        )


def embedding_fields(card: ModelCard, embedding: np.ndarray | None) -> dict[str, object]:
    """The answer's ``embedding`` (the clip's ``(D,)`` float32 as floats), ``embedding_layer``
    and ``embedding_size`` (the card's); empty without an embedding."""
    if embedding is None or card.embedding is None:
        return {}
    return {
        "embedding": [float(v) for v in embedding],
        "embedding_layer": card.embedding.layer,
        "embedding_size": card.embedding.size,
    }


def decision_rule(
    card: ModelCard, policy: str | None, threshold: float | None, options: Options
) -> DecisionRule:
    """:func:`tagging.decisions.rule_for`, its refusals as :class:`InvalidOptionError` naming
    the option as the caller spelled it (raised before any work is done)."""
    try:
        return rule_for(card, policy, threshold)
    except InvalidDecisionError as exc:
        option = options.threshold if threshold is not None else options.policy
        raise InvalidOptionError(
            f"invalid request: {option}: {exc}",
            errors=[{"loc": option.split("."), "msg": str(exc), "type": "value_error"}],
        ) from exc


def tag_columns(model_tags: list[str], all_tags: bool) -> tuple[np.ndarray, TagSet]:
    """Columns of the model's output to rank: all of them with ``all_tags`` or for a model of at
    most ten tags, else the project's ten among them (all if it has none of them)."""
    n = len(model_tags)
    ten = [i for i, t in enumerate(model_tags) if t in TOP10_TAGS]
    small = n <= len(TOP10_TAGS)
    columns = list(range(n)) if all_tags or small or not ten else ten
    note = None
    if all_tags and small:
        note = f"this model has only {n} tags; all of them are ranked"
    tag_set = TagSet(all_tags=all_tags, model_tags=n, ranked=len(columns), note=note)
    return np.asarray(columns, dtype=np.int64), tag_set


def top_k(k: int | None, model: str, model_tags: int, n_ranked: int, options: Options) -> int:
    """How many of the ``n_ranked`` tags of ``model`` (which has ``model_tags``) to return:
    ``k`` (1..n_ranked, else :class:`InvalidOptionError`), default all."""
    if k is None:
        return n_ranked
    if not 1 <= k <= n_ranked:
        scope = "" if n_ranked == model_tags else f" ranked without {options.all_tags}"
        raise InvalidOptionError(
            f"invalid request: {options.top_k}: {k} is not within the {n_ranked} tags of model "
            f"{model!r}{scope} (use 1..{n_ranked})",
            errors=[
                {
                    "loc": options.top_k.split("."),
                    "msg": f"Input should be between 1 and {n_ranked}",
                    "type": "less_than_equal" if k > n_ranked else "greater_than_equal",
                }
            ],
        )
    return k


def ranked(tags: list[str], probs: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable ``(tag, probability)``, high to low (ties keep the model's order)."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(tags[i], float(probs[i])) for i in order]


@dataclass(frozen=True)
class TagView:
    """The tags of one model a caller sees: which columns are ranked and how many returned."""

    columns: np.ndarray  # (R,) int64: columns of the model's (K,) output that are ranked
    tags: list[str]  # (R,) their names
    k: int  # how many of them are returned
    tag_set: TagSet
    model_tags: list[str]  # (K,) every output column's name

    @classmethod
    def of(
        cls,
        model: str,
        model_tags: list[str],
        all_tags: bool,
        k: int | None,
        options: Options,
    ) -> TagView:
        """The view of ``model`` for these options (:class:`InvalidOptionError` for a bad ``k``,
        raised before any work is done)."""
        columns, tag_set = tag_columns(model_tags, all_tags)
        tags = [model_tags[i] for i in columns]
        n = top_k(k, model, len(model_tags), len(tags), options)
        return cls(columns, tags, n, tag_set, list(model_tags))

    def top(self, probs: np.ndarray) -> list[tuple[str, float]]:
        """``(K,)`` probabilities -> the ``k`` most probable ranked tags, high to low."""
        return ranked(self.tags, probs[self.columns], self.k)

    def decided(
        self, rule: DecisionRule, probs: np.ndarray
    ) -> tuple[list[TagProbability], list[str] | None, Decision]:
        """``(K,)`` probabilities -> the top ``k`` tags with their threshold and decision, the
        ``labels`` (decided tags among all ranked ones, most probable first; None when nothing
        is decided) and how it was decided."""
        present = rule.present(probs)
        order = self.columns[np.argsort(-probs[self.columns], kind="stable")[: self.k]]
        tags = [
            TagProbability(
                tag=self.model_tags[c],
                probability=float(probs[c]),
                threshold=rule.threshold_of(c),
                present=None if present is None else bool(present[c]),
            )
            for c in order
        ]
        labels = None if present is None else rule.labels(self.model_tags, self.columns, probs)
        return tags, labels, Decision(policy=rule.policy, source=rule.source, reason=rule.reason)

    def scores(self, probs: np.ndarray) -> dict[str, float]:
        """``(K,)`` probabilities -> every ranked tag's, in the model's order (segments)."""
        return {t: float(p) for t, p in zip(self.tags, probs[self.columns], strict=True)}
