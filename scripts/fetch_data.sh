#!/usr/bin/env bash
# Downloads a dataset's original distribution files and checks them against their
# published checksums.
#
#   scripts/fetch_data.sh DATASET [DIR]
#
# DATASET: mnist, fashion-mnist, kmnist, cifar-10, cifar-100, svhn, svhn-extra
#          (imagenet needs a registered download: see docs/data.md)
# DIR:     where the files go (default: ${TIEBREAK_DATA:-./data}/<dataset>, the folder
#          tiebreak looks in).
#
# Environment:
#   TIEBREAK_MIRROR  base URL replacing the canonical locations; files are fetched from
#                    $TIEBREAK_MIRROR/<dataset>/<file> (https://, http:// or file://).
#
# Downloads go to <file>.part and resume from there when interrupted (curl -C -). A
# file whose checksum does not match is deleted and the script exits non-zero; an
# archive (CIFAR) is verified and unpacked (and kept, so a second run only re-unpacks).
set -euo pipefail

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
say() { printf '[fetch] %s\n' "$*"; }
die() {
  printf '[fetch] error: %s\n' "$*" >&2
  exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
dataset="$1"
folder="$dataset"
[ "$dataset" = "svhn-extra" ] && folder="svhn"
dir="${2:-${TIEBREAK_DATA:-./data}/$folder}"

# Each entry: "file algorithm:digest" (digest of the file as downloaded).
bases=()
files=()
archive_member_dir=""
case "$dataset" in
  mnist)
    bases=("https://ossci-datasets.s3.amazonaws.com/mnist" "http://yann.lecun.com/exdb/mnist")
    files=(
      "train-images-idx3-ubyte.gz sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
      "train-labels-idx1-ubyte.gz sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
      "t10k-images-idx3-ubyte.gz sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
      "t10k-labels-idx1-ubyte.gz sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ) ;;
  fashion-mnist)
    bases=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com")
    files=(
      "train-images-idx3-ubyte.gz sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
      "train-labels-idx1-ubyte.gz sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
      "t10k-images-idx3-ubyte.gz sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
      "t10k-labels-idx1-ubyte.gz sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ) ;;
  kmnist)
    bases=("http://codh.rois.ac.jp/kmnist/dataset/kmnist")
    files=(
      "train-images-idx3-ubyte.gz sha256:51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"
      "train-labels-idx1-ubyte.gz sha256:e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"
      "t10k-images-idx3-ubyte.gz sha256:edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"
      "t10k-labels-idx1-ubyte.gz sha256:20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"
    ) ;;
  cifar-10)
    bases=("https://www.cs.toronto.edu/~kriz")
    files=("cifar-10-binary.tar.gz sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")
    archive_member_dir="cifar-10-batches-bin" ;;
  cifar-100)
    bases=("https://www.cs.toronto.edu/~kriz")
    files=("cifar-100-binary.tar.gz sha256:58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec")
    archive_member_dir="cifar-100-binary" ;;
  svhn)
    bases=("http://ufldl.stanford.edu/housenumbers")
    files=(
      "train_32x32.mat md5:e26dedcc434d2e4c54c9b2d4a06d8373"
      "test_32x32.mat md5:eb5a983be6a315427106f1b164d9cef3"
    ) ;;
  svhn-extra)
    bases=("http://ufldl.stanford.edu/housenumbers")
    files=("extra_32x32.mat md5:a93ce644f1a588dc4d68dda5feec44a7") ;;
  imagenet)
    cat >&2 <<'MSG'
[fetch] imagenet: ILSVRC-2012 needs a registered download from https://image-net.org
[fetch] (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar). Unpack it into
[fetch]   <data root>/imagenet/train/<wnid>/*.JPEG and <data root>/imagenet/val/<wnid>/*.JPEG
[fetch] (the validation images sorted into class folders), then run: tiebreak data verify imagenet
MSG
    exit 2 ;;
  *)
    printf '[fetch] unknown dataset "%s"\n' "$dataset" >&2
    usage ;;
esac
if [ -n "${TIEBREAK_MIRROR:-}" ]; then
  bases=("${TIEBREAK_MIRROR%/}/$folder")
fi

command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"

# digest_ok FILE ALGORITHM:DIGEST
digest_ok() {
  local algorithm="${2%%:*}" expected="${2#*:}" actual
  case "$algorithm" in
    sha256) actual="$(sha256sum "$1" | cut -d' ' -f1)" ;;
    md5) actual="$(md5sum "$1" | cut -d' ' -f1)" ;;
    *) die "unknown checksum algorithm $algorithm" ;;
  esac
  [ "$actual" = "$expected" ]
}

# download URL PART: resumes PART when it exists; returns curl's status.
download() {
  local url="$1" part="$2" status=0
  if [ -s "$part" ]; then
    say "resuming $(basename "$part" .part) from byte $(stat -c %s "$part")"
    curl -fL --retry 3 --retry-delay 2 -sS -C - -o "$part" "$url" || status=$?
    if [ "$status" -eq 33 ] || [ "$status" -eq 36 ]; then  # the server cannot resume: start over
      rm -f "$part"
      status=0
      curl -fL --retry 3 --retry-delay 2 -sS -o "$part" "$url" || status=$?
    fi
  else
    curl -fL --retry 3 --retry-delay 2 -sS -o "$part" "$url" || status=$?
  fi
  return "$status"
}

# fetch FILE ALGORITHM:DIGEST: leaves a verified DIR/FILE or fails with nothing left behind
# but a resumable .part of an interrupted transfer.
fetch() {
  local name="$1" digest="$2" dest="$dir/$1" part="$dir/$1.part" base
  if [ -f "$dest" ] && digest_ok "$dest" "$digest"; then
    say "$name: already present, checksum verified"
    return 0
  fi
  for base in "${bases[@]}"; do
    say "$name <- $base/$name"
    if ! download "$base/$name" "$part"; then
      [ -s "$part" ] || rm -f "$part"
      say "$name: download from $base failed"
      continue
    fi
    if digest_ok "$part" "$digest"; then
      mv -f "$part" "$dest"
      say "$name: checksum verified (${digest%%:*})"
      return 0
    fi
    # A stale .part could have spoiled a resumed transfer: one clean retry.
    rm -f "$part"
    if curl -fL --retry 3 --retry-delay 2 -sS -o "$part" "$base/$name" && digest_ok "$part" "$digest"; then
      mv -f "$part" "$dest"
      say "$name: checksum verified (${digest%%:*})"
      return 0
    fi
    rm -f "$part"
    die "$name: checksum mismatch (expected ${digest%%:*} ${digest#*:} from $base/$name); nothing kept"
  done
  die "$name: could not download from ${bases[*]}"
}

mkdir -p "$dir"
for entry in "${files[@]}"; do
  fetch ${entry}
done

if [ -n "$archive_member_dir" ]; then
  archive="$dir/${files[0]%% *}"
  tmp="$(mktemp -d "$dir/.unpack.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  say "unpacking $(basename "$archive")"
  tar -xzf "$archive" -C "$tmp" || die "$archive: cannot unpack"
  [ -d "$tmp/$archive_member_dir" ] || die "$archive: expected a $archive_member_dir/ folder inside"
  mv -f "$tmp/$archive_member_dir"/* "$dir"/
fi
say "$dataset: done in $dir (check with: tiebreak data verify $folder)"
