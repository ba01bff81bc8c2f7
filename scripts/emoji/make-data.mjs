// Called by make-data with the unpacked packages' directory and the output directory.
// Keeps the emoji of Unicode Emoji 15.0 and before (what the fonts of the browsers and
// systems in use draw; newer ones would show as empty boxes), without the components (skin
// tones and hair alone) and bare regional indicators. The skin-tone variants are not lines of
// their own: an emoji that takes a tone gets a fifth field, itself with `*` where the tone's
// modifier goes (see toneTemplate).
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

// The five skin-tone modifiers, light to dark (emojibase's tones 1 to 5).
const MODIFIERS = ["\u{1F3FB}", "\u{1F3FC}", "\u{1F3FD}", "\u{1F3FE}", "\u{1F3FF}"];
// The longest emoji a reaction may be (merpati_protocol::content::MAX_REACTION_BYTES): every
// emoji the picker offers, in every tone, can be one.
const MAX_REACTION_BYTES = 32;

// The emoji with `*` at each place a tone's modifier goes, read from its variants of one tone
// for every person in it (a variant per tone, each the template with that tone's modifier),
// or null if it takes no tone. A ☝️ becomes "☝*": the presentation selector goes where a tone
// does. Variants of mixed tones (🫱🏻‍🫲🏿) are left out: the picker's tone is one choice. Left out
// too: variants newer than NEWEST_VERSION, and the kisses whose toned forms are longer than a
// reaction may be.
function toneTemplate(entry) {
  const variants = (entry.skins || []).filter(
    (skin) => typeof skin.tone === "number" && skin.version <= NEWEST_VERSION,
  );
  if (variants.length === 0) return null;
  if (variants.length !== MODIFIERS.length) throw new Error(`${entry.emoji}: ${variants.length} tones`);
  const templates = variants.map((skin) => skin.emoji.split(MODIFIERS[skin.tone - 1]).join("*"));
  const template = templates[0];
  if (templates.some((other) => other !== template) || !template.includes("*")
      || MODIFIERS.some((modifier) => template.includes(modifier))) {
    throw new Error(`${entry.emoji}: its tones are not one template: ${templates.join(" ")}`);
  }
  if (variants.some((skin) => Buffer.byteLength(skin.emoji) > MAX_REACTION_BYTES)) return null;
  return template;
}

function line(group, entry, name, keywords) {
  const kept = [...new Set(keywords.map(clean))].filter((word) => word && word !== clean(name));
  const fields = [group, entry.emoji, clean(name), kept.join("|")];
  const template = toneTemplate(entry);
  if (template) fields.push(template);
  return fields.join("\t");
}

const header = (language) => [
  `# The emoji picker's emoji in ${language}: written by scripts/emoji/make-data, do not edit.`,
  "# Format: crates/words/src/emoji.rs. A line: group, emoji, name, keywords (tab between, | between keywords),",
  "# and for an emoji that takes a skin tone, itself with * where the tone goes.",
  "# Emoji, order and English names: emojibase-data 17.0.0; Indonesian names: Unicode CLDR 48.2 annotations.",
  "# Both under the Unicode License v3 (https://www.unicode.org/license.txt), Copyright (c) 2004-2026 Unicode, Inc.",
];

const en = header("English");
const id = header("Bahasa Indonesia");
let untranslated = 0;
for (const entry of english) {
  const group = GROUPS[entry.group];
  en.push(line(group, entry, entry.label, entry.tags || []));
  const words = indonesian(entry.emoji);
  if (words && words.tts && words.tts.length) {
    id.push(line(group, entry, words.tts[0], words.default || []));
  } else {
    untranslated += 1;
    id.push(line(group, entry, entry.label, entry.tags || []));
  }
}
writeFileSync(join(out, "en.txt"), en.join("\n") + "\n");
writeFileSync(join(out, "id.txt"), id.join("\n") + "\n");
console.log(`${english.length} emoji; ${untranslated} without Indonesian names (English kept)`);
