#!/usr/bin/env bash
# `make lint`: buf breaking against the contract as it was before this change, so that a published event never
# changes incompatibly. The baseline: on main, the previous commit (HEAD~1: main before the last merge); on a
# branch, where it left main (merge-base); BUF_AGAINST=<ref> overrides. A fresh shallow clone without that
# history falls back to the last tag, or says why nothing was compared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

commit() { git rev-parse --verify -q "$1^{commit}" 2>/dev/null; }

base=${BUF_AGAINST:-}
if [[ -z $base ]]; then
  head=$(commit HEAD) || { echo "buf breaking: no commit yet, nothing to compare"; exit 0; }
  main=$(commit main || commit origin/main || true)
  if [[ -z $main || $main == "$head" ]]; then
    base=$(commit HEAD~1) || base=""
    why="the previous commit"
  else
    base=$(git merge-base HEAD "$main" 2>/dev/null) || base=""
    why="where this branch left main"
  fi
  if [[ -z $base ]]; then
    base=$(git describe --tags --abbrev=0 2>/dev/null) || base=""
    why="the last tag (no history to the previous commit: shallow clone?)"
  fi
  [[ -n $base ]] || { echo "buf breaking: skipped, no previous commit, merge-base or tag here (shallow clone?); set BUF_AGAINST=<ref>"; exit 0; }
else
  why="BUF_AGAINST"
fi
sha=$(commit "$base") || { echo "buf breaking: $base is not a commit here" >&2; exit 1; }
if ! git cat-file -e "$sha:proto" 2>/dev/null; then
  echo "buf breaking: no proto/ at ${sha:0:12} ($why), nothing to compare"; exit 0
fi
echo "buf breaking against ${sha:0:12} ($why)"
# A worktree-free export of that commit: buf's .git input needs a branch or tag name in a shallow clone.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git archive "$sha" proto buf.yaml | tar -x -C "$dir"
buf breaking --against "$dir"
