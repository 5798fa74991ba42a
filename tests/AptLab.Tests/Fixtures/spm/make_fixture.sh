#!/usr/bin/env bash
# Regenerates the umT5-tokenizer test fixture: a tiny SentencePiece unigram model trained with Debian's
# spm_train (package `sentencepiece`) on a generated corpus, plus reference encodings from spm_encode and the
# reference text cleaning of Python's stdlib (html.unescape twice, strip, \s+ -> ' ', strip; no ftfy).
# Special ids as in umT5's spiece.model: <pad> 0, </s> 1, <unk> 2, no BOS.
# Usage: bash tests/AptLab.Tests/Fixtures/spm/make_fixture.sh   (needs: sentencepiece, python3)
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(20240601)
en = ("a the cat dog woman man child runs walks jumps over under across lazy river mountain sunset camera slowly "
      "pans zooms bright dark city street night rain neon lights talking smiling singing video frame cinematic "
      "high quality detailed portrait close-up wide shot ocean waves forest snow golden hour").split()
zh = "色调艳丽过曝静态细节模糊不清字幕风格作品画作画面静止整体发灰最差质量低质量一只猫在草地上奔跑"
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(4000):
        words = [random.choice(en) for _ in range(random.randint(3, 14))]
        line = " ".join(words).capitalize() + random.choice([".", ",", "!", "?", ""])
        if i % 4 == 0:
            line += " " + "".join(random.choice(zh) for _ in range(random.randint(2, 10))) + "，"
        if i % 9 == 0:
            line += " " + str(random.randint(0, 2025))
        f.write(line + "\n")
PY

spm_train --input="$work/corpus.txt" --model_prefix="$work/tiny" --vocab_size=256 --model_type=unigram \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --character_coverage=1.0 --seed_sentencepiece_size=20000 \
  --num_threads=1 --minloglevel=2 >/dev/null 2>&1
cp "$work/tiny.model" tiny_unigram.model

# Texts to encode (one per line; they contain no newlines). The test cleans each (a no-op for these) and
# compares the ids with spm_encode's.
cat > "$work/texts.txt" <<'TXT'
A cat runs over the river.
Cinematic wide shot of the ocean waves at golden hour, high quality
一只猫在草地上奔跑，色调艳丽
Neon lights 2025 zebra xylophone!
the the the the
TXT
spm_encode --model=tiny_unigram.model --output_format=id < "$work/texts.txt" > "$work/ids.txt"
spm_encode --model=tiny_unigram.model --output_format=piece < "$work/texts.txt" > "$work/pieces.txt"

python3 - "$work/texts.txt" "$work/ids.txt" "$work/pieces.txt" > cases.json <<'PY'
import html, json, re, sys
texts = open(sys.argv[1], encoding="utf-8").read().splitlines()
ids = [[int(v) for v in l.split()] for l in open(sys.argv[2]).read().splitlines()]
pieces = [l.split() for l in open(sys.argv[3], encoding="utf-8").read().splitlines()]
def clean(t):                       # Wan's clean='whitespace' without ftfy
    t = html.unescape(html.unescape(t)).strip()
    return re.sub(r"\s+", " ", t).strip()
dirty = ["  A  cat\t\truns\n\nover  ", "Tom &amp; Jerry &lt;3 &#39;quoted&#39; &quot;x&quot;", "double &amp;amp; escaped",
         "\u3000全角\u3000空格\u00a0nbsp\u2003em", "sep\x1c\x1d\x1e\x1fchars", "&#x4e2d;&#25991; &eacute;t&eacute;", "", "   "]
print(json.dumps({
    "model": "tiny_unigram.model",
    "spm": "sentencepiece 0.1.97 (Debian spm_train/spm_encode), unigram, vocab 256, pad 0, eos 1, unk 2, no bos",
    "encode": [{"text": t, "ids": i, "pieces": p} for t, i, p in zip(texts, ids, pieces)],
    "clean": [{"text": d, "cleaned": clean(d)} for d in dirty],
}, ensure_ascii=False, indent=1))
PY
echo "wrote $(pwd)/tiny_unigram.model ($(stat -c %s tiny_unigram.model) bytes) and cases.json"
