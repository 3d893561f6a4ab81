"""beets plugin ``mtattag``: MagnaTagATune tags for the items of a beets library.

``beet mtattag [QUERY]`` tags the matching items (by default those not tagged yet; ``-f`` to
redo) and, with ``auto: yes``, ``beet import`` tags every imported item once its file is in
place. Each item gets flexible attributes:

* ``mtat_labels``: the decided tags, most probable first, joined with ``", "`` (empty when the
  decision rule decides nothing, e.g. ``threshold_policy: none``);
* ``mtat_<tag>``: the probability of every ranked tag (spaces in tag names become
  underscores: ``mtat_no_vocals``), typed as floats so ``beet ls mtat_techno:0.5..`` works (tags of the cards in
  ``models_dir``);
* ``mtat_model``: the model that tagged the item.

Two ways to tag, same answers:

* in process (default): the service's own pipeline (:class:`app.tagger.Tagger` over
  :class:`app.registry.ModelRegistry`, settings from ``TAGGER_*`` and the ``models_dir`` /
  ``model`` options), tag columns from :mod:`app.shaping`, decisions from
  :func:`tagging.decisions.rule_for`;
* through a running service when ``url`` is set: each file is POSTed to ``{url}/predict``
  (``api_key`` is sent as ``Authorization: Bearer``).

With writing on (``write``, which follows beets' ``import.write`` unless set), the labels and
the model go into the file's own tags through :func:`tagging.filetags.write_tags` (atomic; other
tags untouched). A file that cannot be read, decoded or written is logged and skipped.

The project's packages are imported when tagging starts, not when beets loads the plugin, so
that other ``beet`` commands do not pay for onnxruntime.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.dbcore import types
from beets.plugins import BeetsPlugin

if TYPE_CHECKING:
    import optparse

    from beets.importer import ImportSession, ImportTask
    from beets.library import Item, Library

    from app.registry import LoadedModel, ModelRegistry
    from app.shaping import TagView
    from app.tagger import Tagger
    from tagging.card import ModelCard
    from tagging.decisions import DecisionRule

PREFIX = "mtat_"
LABELS_FIELD = "mtat_labels"
MODEL_FIELD = "mtat_model"
LABEL_JOIN = ", "
PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"
"""The repository's embedded models: where the tag names of the typed fields are read from."""
PROBABILITY = types.NullFloat(3)
"""How a probability field is stored and shown (3 decimals; empty on an untagged item)."""
HTTP_TIMEOUT_S = 300.0
"""Per request: the service's own TAGGER_REQUEST_TIMEOUT_S default."""


def field_name(tag: str) -> str:
    """The flexible attribute of a tag's probability: ``"no vocals"`` -> ``"mtat_no_vocals"``
    (lower case; anything but letters, digits and ``_`` becomes ``_``)."""
    return PREFIX + re.sub(r"[^a-z0-9_]", "_", tag.strip().lower())


def known_tags(models_dir: Path) -> list[str]:
    """Every tag named by a card in ``models_dir`` (unreadable cards are skipped): these
    probabilities are typed as floats."""
    tags: dict[str, None] = {}
    for card in sorted(models_dir.glob("*/card.json")):
        try:
            names = json.loads(card.read_text(encoding="utf-8")).get("tags", [])
        except (OSError, ValueError, AttributeError):
            continue
        tags.update(dict.fromkeys(t for t in names if isinstance(t, str)))
    return list(tags)


@dataclass(frozen=True)
class Outcome:
    """One file tagged: the model, its version, the ranked tags' probabilities (model order)
    and the decided labels (most probable first)."""

    model: str
    version: str
    probabilities: dict[str, float]
    labels: list[str]


@dataclass(frozen=True)
class Failure:
    """One file that could not be tagged, and why."""

    reason: str


class TaggingUnavailableError(Exception):
    """Nothing can be tagged: no usable model, a bad option, or the service is unreachable."""


@dataclass(frozen=True)
class Options:
    """The plugin options that shape an answer (the same for both ways of tagging)."""

    model: str
    policy: str
    threshold: float | None
    all_tags: bool


class InProcess:
    """Tags files through the service's own pipeline in this process (no server)."""

    def __init__(self, models_dir: Path | None, options: Options, log: Any) -> None:
        from app.config import Settings
        from app.errors import ServiceError
        from app.registry import ModelRegistry
        from app.shaping import COMMAND_LINE, TagView
        from app.tagger import Tagger
        from tagging.decisions import InvalidDecisionError, rule_for

        self._log = log
        self.settings = Settings(**({"models_dir": models_dir} if models_dir else {}))
        self.registry: ModelRegistry = ModelRegistry(self.settings)
        try:
            name = options.model or self.registry.choose_default()
            # The options are checked on the card before the model is loaded and warmed up.
            self.rule: DecisionRule = rule_for(
                self.registry.card(name), options.policy, options.threshold
            )
            self.model: LoadedModel = self.registry.get(name)
        except ServiceError as exc:
            raise TaggingUnavailableError(exc.detail) from exc
        except InvalidDecisionError as exc:
            raise TaggingUnavailableError(str(exc)) from exc
        self.view: TagView = TagView.of(
            self.model.name, self.model.tags, options.all_tags, None, COMMAND_LINE
        )
        self.tagger: Tagger = Tagger(self.settings, self.registry)
        self.version = self.model.card.version
        if self.rule.reason:
            log.warning("no labels decided: {}", self.rule.reason)

    async def _one(self, path: Path) -> Outcome | Failure:
        from app.errors import ServiceError

        try:
            size = path.stat().st_size
            if size > self.settings.max_upload_bytes:
                return Failure(
                    f"file is {size / 2**20:.1f} MiB, more than the limit of "
                    f"{self.settings.max_upload_mb:g} MiB (TAGGER_MAX_UPLOAD_MB)"
                )
            data = await asyncio.to_thread(path.read_bytes)
            result = await self.tagger.tag(data, self.model)
        except ServiceError as exc:
            return Failure(exc.detail)
        except OSError as exc:
            return Failure(exc.strerror or str(exc))
        probs = result.probabilities  # (K,) in the model's tag order
        return Outcome(
            model=self.model.name,
            version=self.version,
            probabilities=self.view.scores(probs),
            labels=self.rule.labels(self.model.tags, list(self.view.columns), probs),
        )

    async def _all(self, paths: Sequence[Path], done: Callable[[int, Outcome | Failure], None]):
        self.tagger.start()  # a decode limiter for this event loop
        slots = asyncio.Semaphore(self.settings.cores)  # files in flight, as python -m app tag

        async def one(i: int) -> tuple[int, Outcome | Failure]:
            async with slots:
                return i, await self._one(paths[i])

        for next_done in asyncio.as_completed([one(i) for i in range(len(paths))]):
            done(*await next_done)

    def tag(self, paths: Sequence[Path], done: Callable[[int, Outcome | Failure], None]) -> None:
        """Tag ``paths`` (several in flight at once); ``done(index, outcome)`` as each ends."""
        asyncio.run(self._all(paths, done))

    def close(self) -> None:
        self.tagger.close()


class Service:
    """Tags files through a running service's ``POST /predict``."""

    def __init__(self, url: str, api_key: str, options: Options, log: Any) -> None:
        import requests

        self.url = url.rstrip("/")
        self.options = options
        self._log = log
        self.http = requests.Session()
        if api_key:
            self.http.headers["Authorization"] = f"Bearer {api_key}"
        self._cards: dict[str, ModelCard] = {}

    def card(self, name: str) -> ModelCard:
        """The served model's card (``GET /models/{name}``), fetched once per model."""
        from tagging.card import ModelCard

        if name not in self._cards:
            answer = self._request("GET", f"/models/{name}")
            self._cards[name] = ModelCard.model_validate(answer.json())
        return self._cards[name]

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            return self.http.request(method, self.url + path, timeout=HTTP_TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise TaggingUnavailableError(f"service {self.url} unreachable: {exc}") from exc

    def params(self) -> dict[str, str]:
        o = self.options
        params = {"threshold_policy": o.policy, "all_tags": "true" if o.all_tags else "false"}
        if o.threshold is not None:
            params["threshold"] = repr(float(o.threshold))
        if o.model:
            params["model"] = o.model
        return params

    def _one(self, path: Path) -> Outcome | Failure:
        try:
            with path.open("rb") as fh:
                answer = self._request(
                    "POST", "/predict", params=self.params(), files={"file": (path.name, fh)}
                )
        except OSError as exc:
            return Failure(exc.strerror or str(exc))
        if answer.status_code in (401, 403, 404, 422):  # the same for every file: stop
            raise TaggingUnavailableError(
                f"service answered {answer.status_code}: {_detail(answer)}"
            )
        if answer.status_code != 200:
            return Failure(f"service answered {answer.status_code}: {_detail(answer)}")
        body = answer.json()
        probabilities = {t["tag"]: float(t["probability"]) for t in body["tags"]}
        card = self.card(body["model"])
        if "labels" not in body:
            raise TaggingUnavailableError(
                "the service answers without decisions (no 'labels'): it predates them; "
                "update it or tag in process (leave url empty)"
            )
        labels = list(body["labels"] or [])  # null: nothing decided
        return Outcome(body["model"], card.version, probabilities, labels)

    def tag(self, paths: Sequence[Path], done: Callable[[int, Outcome | Failure], None]) -> None:
        """Tag ``paths`` one request at a time; ``done(index, outcome)`` after each."""
        for i, path in enumerate(paths):
            done(i, self._one(path))

    def close(self) -> None:
        self.http.close()


def _detail(answer: Any) -> str:
    """The service's error message (``detail``), else the start of the body."""
    try:
        return str(answer.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]


class MtatTagPlugin(BeetsPlugin):
    """``beet mtattag`` and, with ``auto: yes``, tagging on import."""

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "auto": False,
                "url": "",
                "api_key": "",
                "model": "",
                "threshold_policy": "f1",
                "threshold": None,
                "all_tags": False,
                "models_dir": "",
                "write": None,  # None: beets' import.write
            }
        )
        self.config["api_key"].redact = True
        self.item_types = {
            LABELS_FIELD: types.STRING,
            MODEL_FIELD: types.STRING,
            **{field_name(t): PROBABILITY for t in known_tags(self.models_dir() or PROJECT_MODELS)},
        }
        self._engine: InProcess | Service | None = None
        if self.config["auto"].get(bool):
            # After the files are in place (copied, moved or left): the final path is tagged,
            # and a source outside the library is never written to.
            self.register_listener("import_task_files", self.imported)
        self.register_listener("cli_exit", self.close)

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("mtattag", help="tag items with MagnaTagATune tags (mtat_* fields)")
        cmd.parser.add_option(
            "-f", "--force", action="store_true", default=False, help="retag tagged items too"
        )
        cmd.parser.add_option(
            "-w", "--write", dest="write", action="store_true", default=None,
            help="write the labels into the files",
        )  # fmt: skip
        cmd.parser.add_option(
            "-W", "--nowrite", dest="write", action="store_false",
            help="only store the fields in the library",
        )  # fmt: skip
        cmd.func = self.command
        return [cmd]

    # -- configuration ------------------------------------------------------------------------
    def options(self) -> Options:
        threshold = self.config["threshold"].get()
        if threshold is not None and not isinstance(threshold, int | float):
            raise TaggingUnavailableError(f"mtattag.threshold: {threshold!r} is not a number")
        return Options(
            model=self.config["model"].as_str(),
            policy=self.config["threshold_policy"].as_str(),
            threshold=None if threshold is None else float(threshold),
            all_tags=self.config["all_tags"].get(bool),
        )

    def models_dir(self) -> Path | None:
        """The ``models_dir`` option (relative to beets' config folder), or None: the service's
        own default (``TAGGER_MODELS_DIR``, else the project's models)."""
        if not self.config["models_dir"].as_str():
            return None
        return Path(self.config["models_dir"].as_filename())

    def should_write(self, flag: bool | None = None) -> bool:
        """The command's -w/-W, else the plugin's ``write``, else beets' ``import.write``."""
        if flag is not None:
            return flag
        configured = self.config["write"].get()
        return ui.should_write() if configured is None else bool(configured)

    def engine(self) -> InProcess | Service:
        """The tagger, created on first use and kept for the rest of the beets run."""
        if self._engine is None:
            url = self.config["url"].as_str()
            if url:
                self._engine = Service(
                    url, self.config["api_key"].as_str(), self.options(), self._log
                )
            else:
                self._engine = InProcess(self.models_dir(), self.options(), self._log)
        return self._engine

    def close(self, **_: Any) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # -- entry points -------------------------------------------------------------------------
    def command(self, lib: Library, opts: optparse.Values, args: list[str]) -> None:
        items = [i for i in lib.items(args) if opts.force or not i.get(MODEL_FIELD)]
        if not items:
            self._log.info("nothing to tag (-f retags tagged items)")
            return
        try:
            tagged = self.tag_items(items, write=self.should_write(opts.write))
        except TaggingUnavailableError as exc:
            raise ui.UserError(f"mtattag: {exc}") from exc
        self._log.info("tagged {} of {} item(s)", tagged, len(items))

    def imported(self, session: ImportSession, task: ImportTask) -> None:
        try:
            self.tag_items(task.imported_items(), write=self.should_write())
        except TaggingUnavailableError as exc:  # the import itself goes on
            self._log.error("not tagging imported items: {}", exc)

    # -- tagging ------------------------------------------------------------------------------
    def tag_items(self, items: Iterable[Item], write: bool) -> int:
        """Tag ``items``, store the fields, write the files when ``write``; the number tagged.
        Raises :class:`TaggingUnavailableError` when nothing can be tagged."""
        items = list(items)
        tagged = 0

        def done(i: int, outcome: Outcome | Failure) -> None:
            nonlocal tagged
            item = items[i]
            if isinstance(outcome, Failure):
                self._log.error("cannot tag {}: {}", item.filepath, outcome.reason)
                return
            self.apply(item, outcome, write)
            tagged += 1

        self.engine().tag([item.filepath for item in items], done)
        return tagged

    def apply(self, item: Item, outcome: Outcome, write: bool) -> None:
        """Store one outcome on ``item`` (replacing the fields of an earlier tagging) and write
        the labels into its file when ``write``."""
        fields = {field_name(t): p for t, p in outcome.probabilities.items()}
        for key in list(item.keys(computed=False)):
            if (
                key.startswith(PREFIX)
                and key not in fields
                and key not in (LABELS_FIELD, MODEL_FIELD)
            ):
                del item[key]  # a tag the new answer does not rank
        item.update(fields)
        item[LABELS_FIELD] = LABEL_JOIN.join(outcome.labels)
        item[MODEL_FIELD] = outcome.model
        item.store()
        self._log.info(
            "{}: {} ({})", item.filepath, item[LABELS_FIELD] or "no labels", outcome.model
        )
        if write:
            self.write_file(item, outcome)

    def write_file(self, item: Item, outcome: Outcome) -> None:
        from tagging.filetags import FileTagError, write_tags

        try:
            write_tags(item.filepath, outcome.labels, outcome.model, outcome.version)
        except FileTagError as exc:
            self._log.error("cannot write tags to {}: {}", item.filepath, exc.reason)
