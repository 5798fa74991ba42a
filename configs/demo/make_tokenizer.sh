#!/usr/bin/env bash
# Regenerates configs/demo/spiece.model: a tiny SentencePiece word-level tokenizer (one token per caption word; a
# unigram model trained on 96 captions falls back to single characters) (umT5's special ids: <pad> 0,
# </s> 1, <unk> 2, no BOS) for the demo's captions ("a red circle moving left", ...), trained with Debian's
# spm_train (package `sentencepiece`). The demo itself only reads the committed model.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for c in red green blue yellow magenta cyan white orange; do
  for s in circle square triangle; do
    a=a; [ "$c" = orange ] && a=an
    for d in left right up down; do echo "$a $c $s moving $d"; done
  done
done > "$work/corpus.txt"
echo "" >> "$work/corpus.txt"
spm_train --input="$work/corpus.txt" --model_prefix="$work/spiece" --vocab_size=24 --model_type=word \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --character_coverage=1.0 --hard_vocab_limit=false >/dev/null 2>&1
cp "$work/spiece.model" spiece.model
echo "wrote $(pwd)/spiece.model"
