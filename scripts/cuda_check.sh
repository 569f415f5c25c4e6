#!/usr/bin/env bash
# Every method once on a CUDA device: the check to run when a GPU machine is at hand.
#
#   bash scripts/cuda_check.sh OUT [PHOTOS]      # PHOTOS: a folder with tubingen.jpg etc.
#
# Each step runs on its own (a failing one does not stop the rest) under a time limit
# (STEP_LIMIT seconds, default 150), writes its log and picture into OUT and prints its exit
# code and seconds. Steps: the optimization method at 512, 1024 and 2048 px; the fast, anystyle,
# adain and CycleGAN methods on a 4000×3000 photo; a short training of each trainer; the
# optimization benchmark against the classic baseline.
set -u
out=${1:?usage: cuda_check.sh OUT [PHOTOS]}
photos=${2:-../shared/data/photos}
py=${PYTHON:-python3}
device=${DEVICE:-cuda}  # DEVICE=cpu STEP_LIMIT=20: a rehearsal of the commands
mkdir -p "$out"
work=$(mktemp -d)

step() {
    local name=$1
    shift
    local started
    started=$(date +%s%N)
    timeout "${STEP_LIMIT:-150}" "$@" >"$out/$name.log" 2>&1
    local code=$?
    local ms=$((($(date +%s%N) - started) / 1000000))
    echo "== $name: exit $code in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
    [ "$code" = 0 ] || tail -n 4 "$out/$name.log"
}

$py - <<'EOF' || exit 1
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "NO GPU")
EOF
# A 4000×3000 photo: above every size threshold of the real-time methods (tiles).
$py -c "from PIL import Image; Image.open('$photos/tubingen.jpg').convert('RGB').resize((4000, 3000)).save('$work/large.jpg', quality=90)"

paint="$py -m painterly stylize $photos/tubingen.jpg --device $device"
step optimize-512 $paint -s starry-night -o "$out/optimize-512.jpg"
step optimize-1024 $paint -s starry-night --size 1024 -o "$out/optimize-1024.jpg"
step optimize-2048 $paint -s starry-night --size 2048 --quality draft -o "$out/optimize-2048.jpg"
step fast-4000 $py -m painterly stylize "$work/large.jpg" --model starry-night --device $device -o "$work/fast.jpg"
step anystyle-4000 $py -m painterly stylize "$work/large.jpg" -m anystyle -s the-scream --device $device -o "$work/anystyle.jpg"
step adain-4000 $py -m painterly stylize "$work/large.jpg" -m adain -s woman-with-hat --device $device -o "$work/adain.jpg"
step gan-4000 $py -m painterly gan apply photo2impressionism "$work/large.jpg" --device $device -o "$work/gan.jpg"
$py -c "
from PIL import Image
for name in ('fast', 'anystyle', 'adain', 'gan'):
    try:
        Image.open('$work/' + name + '.jpg').resize((800, 600)).save('$out/' + name + '-4000.jpg', quality=85)
    except OSError as error:
        print(name, error)
"
train="--data $photos --device $device --steps 20"
step train-fast $py -m painterly train --style starry-night $train --out "$work/fast.safetensors" --run-dir "$work/fast.run"
step train-anystyle $py -m painterly train-anystyle $train --paintings "$photos" --views 1 --out "$work/anystyle.safetensors" --run-dir "$work/anystyle.run"
step train-adain $py -m painterly train-arbitrary $train --styles "$photos" --out "$work/adain.safetensors" --run-dir "$work/adain.run"
step train-gan $py -m painterly gan train --domain-a "$photos" --domain-b "$photos" --device $device --steps 20 --crop-size 128 --out "$work/gan.run"
STEP_LIMIT=${BENCH_LIMIT:-240} step bench-optimize $py benchmarks/bench_optimize.py --device $device --pairs three --no-previous
STEP_LIMIT=${BENCH_LIMIT:-240} step bench-optimize-1024 $py benchmarks/bench_optimize.py --device $device --size 1024 --no-baseline --no-previous
rm -rf "$work"
