"""MTAT's synonym tags: one table, read by training (merging columns) and the page (grouping rows)."""

from __future__ import annotations

from collections.abc import Iterable

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("beat", "beats"),
    ("chant", "chanting"),
    ("choir", "choral"),
    ("classical", "clasical", "classic"),
    ("drums", "drum"),
    ("electronic", "electro", "electronica"),
    ("fast", "fast beat", "quick"),
    (
        "female",
        "female singer",
        "female singing",
        "female vocal",
        "female vocals",
        "female voice",
        "woman",
        "woman singing",
        "women",
        "girl",
    ),
    ("flute", "flutes"),
    ("guitar", "guitars"),
    ("harpsichord", "harpsicord"),
    ("horn", "horns"),
    ("indian", "india"),
    ("jazz", "jazzy"),
    (
        "male",
        "male singer",
        "male vocal",
        "male vocals",
        "male voice",
        "man",
        "man singing",
        "men",
    ),
    ("no vocals", "no vocal", "no voice", "no voices", "no singing", "no singer"),
    ("opera", "operatic"),
    ("orchestra", "orchestral"),
    ("singing", "singer"),
    ("space", "spacey"),
    ("strings", "string"),
    ("synth", "synthesizer"),
    ("violin", "violins", "fiddle"),
    ("vocal", "vocals", "voice", "voices"),
    ("weird", "strange"),
)
"""MTAT's known synonym / misspelling groups; the first name of a group is the merged column.

MTAT's tags were collected with the TagATune game, so the same concept appears under several
spellings ("clasical", "harpsicord"), plurals ("guitars", "drum"/"drums") and paraphrases
("no vocals", "no voice", "no singing"). The groups follow the synonym list that circulates with
the dataset (keunwoochoi/magnatagatune-list, used to study MTAT's label noise in Choi et al.
2018, "The effects of noisy labels on deep convolutional neural networks for music tagging").
We keep only groups of true synonyms: tags that differ in meaning ("electric" vs "electronic",
"hard" vs "hard rock", "heavy" vs "metal", "no beat" vs "no drums", "quiet" vs "silence",
"piano" vs "piano solo") stay separate. A merged column is the logical OR of its members and
takes the file position of its first-occurring member (for tie-breaking). Every name must be a
real MTAT column (checked in the tests against ``training.constants.mtat_tag_columns()``).

Training merges them (``training.data.mtat``, ``merge_synonyms=True``); the page shows each
group present in an answer as one row (``GET /tag-groups``).
"""


def groups_within(vocabulary: Iterable[str]) -> list[list[str]]:
    """The groups with at least two members in ``vocabulary`` (a model's tags), each as the
    members present, in the table's order."""
    known = set(vocabulary)
    present = ([t for t in group if t in known] for group in SYNONYM_GROUPS)
    return [group for group in present if len(group) >= 2]
