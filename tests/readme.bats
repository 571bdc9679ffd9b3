#!/usr/bin/env bats
# The README's command blocks, run as a newcomer pastes them: from the top
# of the tree, after `make demo`, with nothing of filmeto on PATH until the
# README says how, and a home of their own (no cache, no config, no spool).
# Blocks are fenced: ```sh setup runs first, but for `make check` (this
# test runs under it), then ```sh; ```sh remote needs a service and is skipped;
# ```yaml and ```text are not commands.

load test_helper

# Files the README's commands make in the tree (hello.* and filmeto-out/
# are make demo's own, kept as make demo keeps them).
MADE="outline films images ids"

setup() {
	common_setup
	unset FILMETO_PLUGIN_PATH FILMETO_CONFIG FILMETO_SPOOL MAKEFLAGS MAKELEVEL MFLAGS
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	# Nothing of filmeto on PATH: the README must put it there.
	PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$ROOT/cmd" | paste -sd:)
}

teardown() {
	local f
	if [ -n "${OWN:-}" ]; then
		for f in $MADE; do rm -rf "${ROOT:?}/$f"; done
	fi
}

# blocks [MD]: the fenced blocks of README.md (or MD) as "INFO<TAB>LINE<TAB>FILE", the
# text of each in FILE; every fence must be one of the kinds above, and no
# indented code block may hide a command from this test.
blocks() {
	python3 - "${1:-$ROOT/README.md}" "$BATS_TEST_TMPDIR/blocks" <<'PY'
import os, sys
kinds = {"sh", "sh setup", "sh remote", "yaml", "text"}
md, out = os.path.basename(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
lines = open(sys.argv[1]).read().split("\n")
info, start, body, prev = None, 0, [], ""
for n, line in enumerate(lines, 1):
    if info is None and line.startswith("```"):
        info, start, body = line[3:].strip(), n, []
        if info not in kinds:
            sys.exit(f"{md}:{n}: a fence of unknown kind '{info}'")
    elif info is not None and line.startswith("```"):
        path = f"{out}/{start}.{info.replace(' ', '-')}"
        open(path, "w").write("\n".join(body) + "\n")
        print(f"{info}\t{start}\t{path}")
        info = None
    elif info is not None:
        body.append(line)
    elif line.startswith("    ") and prev == "" and not line.lstrip().startswith(("-", "*", "|")):
        sys.exit(f"{md}:{n}: an indented block: fence it (```sh, ```yaml, ```text)")
    prev = line if info is None else prev
if info is not None:
    sys.exit(f"{md}:{start}: a fence that is never closed")
PY
}

@test "README: every command block runs as written from the top of the tree, after make demo" {
	local f kind info line file ran=0 remote=0
	for f in $MADE; do
		if [ -e "$ROOT/$f" ]; then
			echo "$ROOT/$f exists: the README's commands would write into it; move it away" >&2
			return 1
		fi
	done
	OWN=1
	blocks > "$BATS_TEST_TMPDIR/list"
	cd "$ROOT"
	# The set-up blocks first (every other block assumes them), then the
	# others in the README's order.
	{
		echo 'set -eo pipefail'
		for kind in "sh setup" sh; do
			while IFS=$'\t' read -r info line file; do
				[ "$info" = "sh remote" ] && [ "$kind" = sh ] && remote=$((remote + 1))
				[ "$info" = "$kind" ] || continue
				ran=$((ran + 1))
				echo "echo \"== README.md:$line (at \$SECONDS s)\" >&2"
				# `make check` is what runs this test.
				grep -vx 'make check .*' "$file"
			done < "$BATS_TEST_TMPDIR/list"
		done
	} > "$BATS_TEST_TMPDIR/readme.sh"
	[ "$ran" -ge 7 ] && [ "$remote" -ge 1 ]
	run --separate-stderr bash "$BATS_TEST_TMPDIR/readme.sh"
	echo "$stderr" | tail -n 30
	[ "$status" -eq 0 ]
	# What each block promised is there.
	[[ "$stderr" == *"demo: wrote hello.mp4"* ]] || [[ "$output" == *"demo: wrote hello.mp4"* ]]
	ffprobe -v error -show_entries format=duration -of csv=p=0 hello.mp4 > "$BATS_TEST_TMPDIR/dur"
	python3 -c 'import sys; sys.exit(not float(open(sys.argv[1]).read()) > 20)' "$BATS_TEST_TMPDIR/dur"
	[ -f outline/keeper/storyboard.yaml ]
	[[ "$output" == *"task keeper-scene1-image"* ]] || [[ "$output" == *"plan: "* ]]
	[ -f films/hello.mp4 ] && [ -f films/hello.srt ]
	[ -f images/line-1/card.png ] && [ -f images/line-4/card.png ] && [ ! -e images/line-3 ]
	[ "$(wc -l < ids)" -eq 17 ]
	# Again, make has nothing to do: the film is up to date.
	run make -C films -j4
	[ "$status" -eq 0 ]
	[[ "$output" == *"Nothing to be done"* ]]
}

@test "README: a stray indented block or an unknown fence kind fails the extraction" {
	printf 'text\n\n    filmeto-run --oops\n' > bad.md
	run blocks bad.md
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad.md:3: an indented block"* ]]
	printf '```bash\nls\n```\n' > bad.md
	run blocks bad.md
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad.md:1: a fence of unknown kind 'bash'"* ]]
	printf '```sh\nls\n' > bad.md
	run blocks bad.md
	[ "$status" -ne 0 ]
	[[ "$output" == *"never closed"* ]]
	run blocks
	[ "$status" -eq 0 ]
	[[ "$output" == *"sh remote"* ]]
}
