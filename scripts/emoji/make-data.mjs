// Called by make-data with the unpacked packages' directory and the output directory.
// Keeps the emoji of Unicode Emoji 15.0 and before (what the fonts of the browsers and
// systems in use draw; newer ones would show as empty boxes), without skin-tone variants
// and without the components (skin tones and hair alone) and bare regional indicators.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [packages, out] = process.argv.slice(2);
const read = (path) => JSON.parse(readFileSync(join(packages, path), "utf8"));

const NEWEST_VERSION = 15.0;
// emojibase's group numbers to the picker's (crates/words/src/emoji.rs, EmojiGroup), which
// leaves out group 2, the components.
const GROUPS = { 0: 0, 1: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8 };

const english = read("emojibase-data/en/data.json")
  .filter((entry) => entry.group in GROUPS && entry.version <= NEWEST_VERSION)
  .sort((a, b) => a.order - b.order);

const cldr = {
  ...read("cldr-annotations-derived-full/annotationsDerived/id/annotations.json").annotationsDerived.annotations,
  ...read("cldr-annotations-full/annotations/id/annotations.json").annotations.annotations,
};
// CLDR names emoji without the variation selector (U+FE0F).
const indonesian = (emoji) => cldr[emoji] || cldr[emoji.replaceAll("\uFE0F", "")];

function clean(word) {
  const text = word.toLowerCase().trim();
  if (/[\t\n|]/.test(text)) throw new Error(`a name holds a tab, a newline or a bar: ${word}`);
  return text;
}

function line(group, emoji, name, keywords) {
  const kept = [...new Set(keywords.map(clean))].filter((word) => word && word !== clean(name));
  return `${group}\t${emoji}\t${clean(name)}\t${kept.join("|")}`;
}

const header = (language) => [
  `# The emoji picker's emoji in ${language}: written by scripts/emoji/make-data, do not edit.`,
  "# Format: crates/words/src/emoji.rs. A line: group, emoji, name, keywords (tab between, | between keywords).",
  "# Emoji, order and English names: emojibase-data 17.0.0; Indonesian names: Unicode CLDR 48.2 annotations.",
  "# Both under the Unicode License v3 (https://www.unicode.org/license.txt), Copyright (c) 2004-2026 Unicode, Inc.",
];

const en = header("English");
const id = header("Bahasa Indonesia");
let untranslated = 0;
for (const entry of english) {
  const group = GROUPS[entry.group];
  en.push(line(group, entry.emoji, entry.label, entry.tags || []));
  const words = indonesian(entry.emoji);
  if (words && words.tts && words.tts.length) {
    id.push(line(group, entry.emoji, words.tts[0], words.default || []));
  } else {
    untranslated += 1;
    id.push(line(group, entry.emoji, entry.label, entry.tags || []));
  }
}
writeFileSync(join(out, "en.txt"), en.join("\n") + "\n");
writeFileSync(join(out, "id.txt"), id.join("\n") + "\n");
console.log(`${english.length} emoji; ${untranslated} without Indonesian names (English kept)`);
