// make_corpus.mjs OUT [SIZE] — writes a deterministic tokenizer test corpus.
//   OUT        the raw bytes (mostly UTF-8, with some invalid UTF-8 sequences);
//   OUT.valid  the same bytes as decoded by TextDecoder (each invalid sequence
//              replaced by U+FFFD) and re-encoded: exactly the text encode.mjs
//              gives js-tiktoken, so the C test compares ids on this file and
//              checks byte round trips on both.
// The text is composed for this test (short made-up sentences, code, emoji,
// whitespace/digit/punctuation runs); pieces are mixed by a seeded PRNG until
// SIZE bytes (default 262144) are reached. Same arguments, same bytes.
//
// Left out on purpose, because js-tiktoken (JS RegExp) and tiktoken/PCRE2 differ
// there and the corpus is meant to test our tokenizer, not those differences:
// U+0085 and U+FEFF (JS \s vs Unicode White_Space), "'ſ" (case-insensitive
// contractions), and letters/digits newer than Unicode 14.
import fs from "node:fs";

const out = process.argv[2];
const size = Number(process.argv[3] ?? 262144);
if (!out || !(size > 0)) {
  console.error("usage: node make_corpus.mjs OUT [SIZE]");
  process.exit(2);
}

// mulberry32: small, seeded, deterministic.
let seed = 0x1f2e3d4c;
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pick = (a) => a[int(a.length)];

const sentences = [
  // English, with contractions in both cases
  "The cat's bowl isn't empty, but they're sure it'll be by noon.",
  "We've tried it twice; I'm certain you'd like the third attempt.",
  "SHE'S HERE AND THEY'LL WAIT. WE'VE GOT IT. I'M OK, YOU'D SEE, IT'D WORK, DON'T.",
  "Don't panic: the build's green again, and Bob's tests pass.",
  "A quick brown dog jumps over seven lazy foxes at 3:45pm.",
  "It's the user's choice whether we're done -- isn't it?",
  "Mixed Case'S and It'Ll and THEY'Re odd'D forms'M too.",
  // French
  "L'été dernier, nous avons mangé des crêpes à Noël près de la forêt.",
  "Où est la bibliothèque ? C'est à côté de l'église, n'est-ce pas ?",
  "Ça coûte vingt-deux euros ; l'œuvre est très appréciée.",
  // German
  "Die Straße ist naß, aber die Füße bleiben trocken. Grüße aus Köln!",
  "Größere Bäume wachsen langsam; Ärger über Öl und Übermut.",
  "ẞ GROSSES ESZETT, weiß, heiß, Maß und Fußgängerübergänge.",
  // Spanish
  "¿Dónde está el niño? ¡Qué día más bonito en la montaña!",
  "El pingüino comió piña y jalapeños mañana por la mañana.",
  // Russian
  "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "Мы пошли в парк, а потом вернулись домой поздно вечером.",
  "ПРИВЕТ, мир! Ёлка стоит в углу комнаты.",
  // Greek
  "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
  "Καλημέρα σας· πώς είστε σήμερα; Ευχαριστώ πολύ!",
  // Arabic
  "مرحبا بالعالم، كيف حالك اليوم؟ الكتاب على الطاولة.",
  "ذهبت إلى السوق واشتريت تفاحاً وخبزاً وحليباً.",
  // Hebrew
  "שלום עולם, מה שלומך היום? הספר נמצא על השולחן.",
  // Hindi / Devanagari
  "नमस्ते दुनिया, आज मौसम बहुत अच्छा है। हम बाज़ार जा रहे हैं।",
  "क्षत्रिय ज्ञान श्रम द्वार — संयुक्ताक्षर परीक्षण।",
  // Chinese
  "今天天气很好，我们去公园散步吧。",
  "这个程序的速度非常快，但是内存用得有点多。",
  "學習中文需要時間和耐心，繁體字也很有趣。",
  // Japanese: kana + kanji
  "今日は雨が降っていますが、明日は晴れるでしょう。",
  "カタカナとひらがなを混ぜて書くテストです。ラーメンを食べたい！",
  "ｶﾀｶﾅの半角と全角ＡＢＣ１２３も混ぜる。",
  // Korean
  "안녕하세요, 세계! 오늘 날씨가 정말 좋네요.",
  "우리는 내일 아침 일찍 도서관에 갈 거예요.",
  // Thai (no spaces between words)
  "สวัสดีครับ วันนี้อากาศดีมาก เราจะไปตลาดกัน",
  // Vietnamese, precomposed and with combining marks
  "Tiếng Việt có nhiều dấu: ă â đ ê ô ơ ư, và thanh điệu.",
  "Vie\u0302\u0323t Nam đe\u0323p la\u0306\u0301m — combining marks.",
  "Cafe\u0301 vs Café, n\u0303 vs ñ, A\u030A vs Å.",
  // others
  "Türkçe: İstanbul'da ılık bir gün; şişe, çiçek, ğ.",
  "Polski: zażółć gęślą jaźń. Čeština: příliš žluťoučký kůň.",
  "Հայերեն տառեր, ქართული ანბანი, ᐃᓄᒃᑎᑐᑦ, አማርኛ ፊደል።",
  "Tamil தமிழ் எழுத்துக்கள், Bengali বাংলা ভাষা, Gujarati ગુજરાતી.",
  "Math: ∀x∈ℝ, x²≥0; ∑ᵢ aᵢ ≠ ∫ f(x) dx ≈ π·r² ± ε.",
  "Roman Ⅻ, circled ①②③, fractions ½ ¾, superscript ¹²³, Arabic-Indic ٠١٢٣٤٥٦٧٨٩, Devanagari ०१२३.",
  "Fullwidth！？（）「」『』【】、。・ and ellipsis… dashes – — ‒.",
];

const emoji = [
  "😀", "😂", "🥲", "🤖", "🚀", "🔥", "✨", "❤️", "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿",
  "👩‍👩‍👧‍👦", "👨‍💻", "🧑🏽‍🚀", "👩🏿‍🔬", "🏳️‍🌈", "🏴‍☠️", "❤️‍🔥", "🐻‍❄️",
  "🇫🇷", "🇯🇵", "🇧🇷", "🇺🇸", "🇩🇪", "🇰🇷", "🇮🇳", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "©️", "™",
];

const code = [
  "#include <stdio.h>\n\nint main(void) {\n\tfor (int i = 0; i < 10; ++i) {\n\t\tprintf(\"%d\\n\", i * i);\n\t}\n\treturn 0;\n}\n",
  "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }\n",
  "def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nprint([fib(i) for i in range(20)])\n",
  "class Node:\n    def __init__(self, key):\n        self.key = key\n        self.left = self.right = None  # TODO: balance\n",
  "{\n  \"name\": \"example\",\n  \"version\": \"1.2.3\",\n  \"tags\": [\"a\", \"b\", \"c\"],\n  \"nested\": {\"x\": -1.5e-3, \"ok\": true, \"none\": null}\n}\n",
  "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;\n",
  "const f = async (x) => { await sleep(10); return x?.y ?? [...xs, {k: 1}]; };\n",
  "if [ -z \"$HOME\" ]; then echo 'no home' >&2; exit 1; fi\r\n",
  "<div class=\"box\"><p>Hello &amp; welcome</p><br/></div>\n",
  "fn main() { let v: Vec<i32> = (0..5).map(|x| x * 2).collect(); println!(\"{:?}\", v); }\n",
];

const urls = [
  "https://example.com/path/to/page?query=1&lang=en#section-2",
  "http://localhost:8080/api/v1/items/42",
  "ftp://files.example.org/pub/archive.tar.gz",
  "mailto:someone@example.net",
  "https://例え.テスト/パス?q=日本語",
];

const special = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>",
  "<|endoftext", "<|endoftext|>>", "<<|endoftext|>", "<|unknown|>"];

const invalid = [
  [0x80], [0xbf], [0x80, 0x80, 0x80], [0xe2, 0x82], [0xe3, 0x81], [0xf0, 0x9f, 0x98], [0xf0, 0x9f],
  [0xff], [0xfe], [0xc0], [0xc0, 0xaf], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x28, 0xa1], [0xc3], [0xc3, 0x28],
];

const runOf = (chars, n) => Array.from({ length: n }, () => pick(chars)).join("");
const digits = () => runOf("0123456789", 1 + int(rand() < 0.2 ? 300 : 20));
const number = () => pick(["", "-", "+"]) + digits() + (rand() < 0.4 ? "." + digits() : "") + (rand() < 0.1 ? "e-" + int(40) : "");

function whitespace() {
  switch (int(6)) {
    case 0: return " ".repeat(2 + int(rand() < 0.2 ? 400 : 16));
    case 1: return "\t".repeat(1 + int(12));
    case 2: return "\r\n".repeat(1 + int(5));
    case 3: return runOf([" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2003"], 2 + int(40));
    case 4: return "\n".repeat(1 + int(8)) + " ".repeat(int(8));
    default: return " ".repeat(1 + int(4)) + "\n" + " ".repeat(1 + int(4));
  }
}
const punct = () => runOf("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~…«»“”‘’¡¿", 2 + int(rand() < 0.2 ? 120 : 12));
const contractions = () => runOf(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'Ll", "'rE", "'x", "''", "’s"], 1 + int(6));
const sep = () => pick([" ", " ", " ", "\n", ", ", ". ", "\t", "", "  "]);

// Each generator returns a string, or a Buffer for raw (invalid) bytes.
const gens = [
  [40, () => pick(sentences)],
  [8, () => Array.from({ length: 1 + int(6) }, () => pick(emoji)).join(rand() < 0.5 ? "" : " ")],
  [8, () => pick(code)],
  [6, whitespace],
  [5, number],
  [4, punct],
  [3, () => pick(["it", "IT", "we", "They", "Bob"]) + contractions()],
  [3, () => pick(urls)],
  [2, () => pick(special)],
  [3, () => Buffer.from(pick(invalid))],
];
const total = gens.reduce((s, [w]) => s + w, 0);
function piece() {
  let r = int(total);
  for (const [w, g] of gens) if ((r -= w) < 0) return g();
  throw new Error("unreachable");
}

const parts = [];
let n = 0;
while (n < size) {
  for (const p of [piece(), sep()]) {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(p, "utf8");
    parts.push(b);
    n += b.length;
  }
}
const raw = Buffer.concat(parts);
fs.writeFileSync(out, raw);
const valid = Buffer.from(new TextDecoder("utf-8").decode(raw), "utf8");
fs.writeFileSync(out + ".valid", valid);
console.error(`${out}: ${raw.length} bytes; ${out}.valid: ${valid.length} bytes`);
