#!/usr/bin/env bash
# Download script of ddd-transfer share __SHARE_ID__: __FILE_COUNT__ files, __TOTAL_BYTES__ bytes.
# Its links are read-only and stop working at __EXPIRES__ (UTC); anyone holding this script can
# download the files until then, so keep it as you would keep the data.
#
# Needs bash and curl (and md5sum, or md5 on macOS). Every downloaded file is checked against
# the MD5 the service recorded; the script exits 1 if any file did not download or verify,
# 2 on a usage error, 0 otherwise.
set -euo pipefail

share_id=__SHARE_ID__
share_source=__SOURCE__
share_expires=__EXPIRES__

usage() {
  cat <<'USAGE'
usage: bash download.sh --data-download-path DIR [options]

  --data-download-path DIR  where the files go (DIR must exist); each file is written at
                            DIR/<its path in the shared folder>
  --dry-run, --dryrun       download nothing: print what would be downloaded or skipped and
                            the folders that would be created
  --check-size-only         skip a file that already exists with the expected size (its
                            contents are not checked)
  --skip-existing           skip a file that already exists, whatever its size
  --print-summary           print how many files and bytes would be downloaded and skipped,
                            then stop without downloading
  -h, --help                this text
USAGE
}

fail_usage() { echo "download.sh: $1" >&2; usage >&2; exit 2; }

download_path=""
dry_run=0
check_size_only=0
skip_existing=0
print_summary=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data-download-path)
      [ $# -ge 2 ] || fail_usage "--data-download-path needs a folder"
      download_path=$2; shift 2 ;;
    --data-download-path=*) download_path=${1#*=}; shift ;;
    --dry-run|--dryrun) dry_run=1; shift ;;
    --check-size-only) check_size_only=1; shift ;;
    --skip-existing) skip_existing=1; shift ;;
    --print-summary) print_summary=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail_usage "unknown option: $1" ;;
  esac
done
[ -n "$download_path" ] || fail_usage "--data-download-path is required"
[ -d "$download_path" ] || fail_usage "'$download_path' is not an existing folder; create it first"
command -v curl >/dev/null 2>&1 || { echo "download.sh: curl is required" >&2; exit 2; }
if command -v md5sum >/dev/null 2>&1; then
  md5_of() { local sum; sum=$(md5sum < "$1"); printf '%s\n' "${sum%% *}"; }
elif command -v md5 >/dev/null 2>&1; then
  md5_of() { md5 -q < "$1"; }
else
  echo "download.sh: md5sum (or md5) is required to verify the files" >&2; exit 2
fi
size_of() { local bytes; bytes=$(wc -c < "$1"); printf '%s\n' "$((bytes))"; }
download_path=${download_path%/}
[ -n "$download_path" ] || download_path=/

planned=0; planned_bytes=0; skipped=0; skipped_bytes=0
downloaded=0; downloaded_bytes=0; failed=0
folders_shown="|"

safe_path() {  # a relative path with no empty, '.' or '..' part
  case "/$1/" in
    //*|*//*|*/./*|*/../*) return 1 ;;
  esac
  return 0
}

handle_file() {  # md5 size path url
  local md5=$1 size=$2 path=$3 url=$4 target part got folder
  if ! safe_path "$path"; then
    echo "REFUSED   $path: not a safe relative path" >&2; failed=$((failed + 1)); return 0
  fi
  target="$download_path/$path"
  if [ -e "$target" ] || [ -L "$target" ]; then
    if [ "$skip_existing" = 1 ]; then
      skipped=$((skipped + 1)); skipped_bytes=$((skipped_bytes + size))
      if [ "$dry_run" = 1 ]; then echo "would skip $path (exists)"; fi
      return 0
    fi
    if [ "$check_size_only" = 1 ] && [ -f "$target" ] && [ "$(size_of "$target")" = "$size" ]; then
      skipped=$((skipped + 1)); skipped_bytes=$((skipped_bytes + size))
      if [ "$dry_run" = 1 ]; then echo "would skip $path (same size)"; fi
      return 0
    fi
  fi
  planned=$((planned + 1)); planned_bytes=$((planned_bytes + size))
  if [ "$dry_run" = 1 ]; then
    case "$path" in
      */*)
        folder=${target%/*}
        case "$folders_shown" in
          *"|$folder|"*) ;;
          *) folders_shown="$folders_shown|$folder|"
             [ -d "$folder" ] || echo "would create folder $folder" ;;
        esac ;;
    esac
    echo "would download $path ($size bytes) to $target"
    return 0
  fi
  if [ "$print_summary" = 1 ]; then return 0; fi
  case "$path" in */*) mkdir -p -- "${target%/*}" ;; esac
  part="$target.ddd-part"
  # the link goes to curl on its standard input, never on its command line (ps shows that)
  if ! printf 'url = "%s"\n' "$url" | curl --config - --fail --silent --show-error \
      --location --retry 3 --retry-delay 2 --output "$part"; then
    rm -f -- "$part"
    echo "FAILED    $path: the download was refused or broke off (expired link?)" >&2
    failed=$((failed + 1)); return 0
  fi
  got=$(md5_of "$part")
  if [ "$got" != "$md5" ]; then
    rm -f -- "$part"
    echo "MISMATCH  $path: MD5 $got, expected $md5; the download was removed" >&2
    failed=$((failed + 1)); return 0
  fi
  mv -f -- "$part" "$target"
  downloaded=$((downloaded + 1)); downloaded_bytes=$((downloaded_bytes + size))
  echo "OK        $path ($size bytes, MD5 verified)"
}

share_files() {
  cat <<'DDD_SHARE_FILES_END'
__FILES__
DDD_SHARE_FILES_END
}

tab=$(printf '\t')
while IFS=$tab read -r -u 3 md5 size path url; do
  handle_file "$md5" "$size" "$path" "$url"
done 3< <(share_files)

if [ "$print_summary" = 1 ] || [ "$dry_run" = 1 ]; then
  echo "share $share_id of $share_source (links valid until $share_expires UTC)"
  echo "would download: $planned files, $planned_bytes bytes"
  echo "would skip:     $skipped files, $skipped_bytes bytes"
  [ "$failed" = 0 ] || { echo "refused:        $failed files" >&2; exit 1; }
  exit 0
fi
echo "downloaded and verified: $downloaded files, $downloaded_bytes bytes"
echo "skipped: $skipped files, $skipped_bytes bytes"
if [ "$failed" != 0 ]; then
  echo "FAILED: $failed files did not download or verify (see above)" >&2
  exit 1
fi
