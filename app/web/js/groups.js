// Synonyms among the tags as one row each (GET tag-groups serves tagging/synonyms.py's groups).

// The answer's tags as rows: a group of >= 2 synonyms present in the answer becomes one row
// whose probability is its members' maximum (and whose threshold and decision are that member's,
// decided when any member is); every other tag is its own row. Highest probability first.
//   tags: [{tag, probability, threshold?, present?}], groups: [[name, ...synonyms]]
//   -> [{tag, probability, threshold, present, members: [tag objects] | null}]
export function groupTags(tags, groups) {
  const byTag = new Map(tags.map((t) => [t.tag, t]));
  const taken = new Set();
  const rows = [];
  for (const names of groups || []) {
    const members = names.map((n) => byTag.get(n)).filter(Boolean);
    if (members.length < 2) continue;
    members.sort((a, b) => b.probability - a.probability);
    members.forEach((m) => taken.add(m.tag));
    const top = members[0];
    rows.push({ ...top, tag: names[0], members,
      present: members.some((m) => m.present === true) ? true : top.present });
  }
  for (const t of tags) if (!taken.has(t.tag)) rows.push({ ...t, members: null });
  return rows.sort((a, b) => b.probability - a.probability);
}

// Decided labels with synonyms merged: "female vocal (female, woman)" for a group's decided
// members, in the order of `labels` (most probable first).
export function groupLabels(labels, groups) {
  const groupOf = new Map();
  for (const names of groups || []) for (const n of names) groupOf.set(n, names[0]);
  const merged = new Map();
  for (const label of labels) {
    const key = groupOf.get(label) ?? label;
    merged.set(key, [...(merged.get(key) || []), label]);
  }
  return [...merged].map(([key, members]) =>
    members.length > 1 || members[0] !== key ? `${key} (${members.join(", ")})` : key);
}

// Whether grouping changes anything for these tags (a group with two members present).
export const groupsApply = (tags, groups) => groupTags(tags, groups).some((r) => r.members);
