#!/bin/sh
# Real face photos shipped inside PyPI source packages, for the soft-biometrics measurements
# (bench/dlib_reference.py, bench/align_sweep.py, bench/bench_gender_models.py). Not shipped
# with this repository: their licences are the packages' (insightface: MIT code, images of
# unstated origin; face_recognition: MIT); they are only read locally. Usage:
#   sh bench/get_face_photos.sh /tmp/face_photos
set -eu
OUT=${1:-/tmp/face_photos}
TMP=$(mktemp -d)
mkdir -p "$OUT"
python3 -m pip download --quiet --no-deps --no-binary :all: insightface==2.1 face-recognition==1.3.0 -d "$TMP"
tar xzf "$TMP"/insightface-2.1.tar.gz -C "$TMP" insightface-2.1/insightface/data/images
tar xzf "$TMP"/face_recognition-1.3.0.tar.gz -C "$TMP" face_recognition-1.3.0/tests/test_images
cp "$TMP"/insightface-2.1/insightface/data/images/*.jpg "$TMP"/insightface-2.1/insightface/data/images/*.png "$OUT"/
cp "$TMP"/face_recognition-1.3.0/tests/test_images/* "$OUT"/
rm -rf "$TMP"
ls "$OUT"
