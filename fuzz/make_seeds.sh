#!/bin/sh
# Regenerate the committed seed corpora in fuzz/seeds/ (small synthetic files only; the
# real model files are never used). Needs the llamahdl binary (`make build`) and python3.
#   fuzz/make_seeds.sh target/release/llamahdl
set -eu
L=$1
cd "$(dirname "$0")"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p seeds/checkpoint seeds/tokenizer seeds/cli_args
# Checkpoints: the first byte is the target's mode (0 as is, 1 fit the body to the header).
"$L" synth --out "$T/tiny.bin" --config tiny --seed 1 2>/dev/null
"$L" synth --out "$T/min.bin" --dim 2 --n-heads 1 --n-kv-heads 1 --hidden-dim 1 \
    --n-layers 1 --vocab-size 2 --seq-len 1 --separate-classifier 2>/dev/null
"$L" synth --out "$T/gqa.bin" --dim 8 --n-heads 4 --n-kv-heads 2 --hidden-dim 4 \
    --n-layers 2 --vocab-size 3 --seq-len 2 --seed 7 2>/dev/null
for m in tiny min gqa; do
    { printf '\000'; cat "$T/$m.bin"; } > seeds/checkpoint/$m
done
{ printf '\001'; head -c 28 "$T/gqa.bin"; } > seeds/checkpoint/gqa-header-fit
{ printf '\000'; head -c 100 "$T/min.bin"; } > seeds/checkpoint/min-truncated
python3 - <<'PY'
import struct
def tok(max_len, extra):
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % b for b in range(256)]
    pieces += extra
    out = struct.pack("<i", max_len)
    for i, p in enumerate(pieces):
        out += struct.pack("<fi", -float(i % 7), len(p)) + p
    return out
def seed(name, extra, text, max_len=8):
    t = text.encode()
    data = bytes([len(extra)]) + struct.pack("<H", len(t)) + t + tok(max_len, extra)
    open("seeds/tokenizer/" + name, "wb").write(data)
seed("plain", [b" ", b"a", b"b", b"ab", b" ab"], "ab ba aab")
seed("utf8", [b" ", "\u00e9".encode(), b"t", b"te", "t\u00e9".encode()], "t\u00e9t\u00e9 \u20ac!")
seed("ties", [b" ", b"x", b"xx", b"xxx", b"xxxx"], "xxxxxxxxxx xx")
seed("empty", [], "")
args = [
    ["run", "--checkpoint", "m.bin", "--tokenizer", "t.bin", "--prompt", "Once", "--steps", "-1"],
    ["run", "--checkpoint", "m.bin", "--prompt-ids", "1 403,407", "--engine", "golden", "--json"],
    ["sim", "--checkpoint", "m.bin", "--lanes", "8", "--weights", "ram", "--vcd", "w.vcd"],
    ["verilog", "--config", "tiny", "--lanes", "4", "--context", "8", "--out", "d"],
    ["synth", "--out", "o.bin", "--dim", "16", "--n-heads", "4", "--separate-classifier"],
    ["info", "--checkpoint", "m.bin", "--json"],
]
for i, a in enumerate(args):
    open("seeds/cli_args/%d-%s" % (i, a[0]), "wb").write(b"\0".join(x.encode() for x in a))
PY
ls -l seeds/*
