#!/usr/bin/env bats
# Every option of every binary is documented in its man page and completed
# by the bash, zsh and fish completions, and every man page is lint-clean.
# The option lists are those of the CLI spec, written out here on purpose:
# adding an option means adding it here, to the page and to the completions;
# an option --help shows that a list here lacks fails its test.

setup() {
	root=$BATS_TEST_DIRNAME/..
	man=$root/man
	bash_comp=$root/completions/bash/filmeto
	ROOT_BIN=$root/cmd
	zsh_comp=$root/completions/zsh/_filmeto
}

# check_opts BINARY OPTION... - each OPTION (-x, --long or a command word)
# must be in the man page and in all three completions of BINARY.
check_opts() {
	local bin=$1 page=$man/man1/$1.1 fish_comp=$root/completions/fish/$1.fish
	local f opt name missing=
	shift
	for f in "$page" "$bash_comp" "$zsh_comp" "$fish_comp"; do
		[ -f "$f" ] || { echo "missing $f"; return 1; }
	done
	# An option --help shows but the list here forgot is missing too.
	for opt in $("$ROOT_BIN/$bin" --help | grep -oE -- '^ +(-[a-z], )?--[a-z][a-z0-9-]*' |
		grep -oE -- '--[a-z][a-z0-9-]*'); do
		[[ " $* " == *" $opt "* ]] || missing="$missing $opt:this-list"
	done
	for opt; do
		case $opt in
		--*)
			name=${opt#--}
			grep -qE "Fl -$name( |\$)" "$page" ||
				missing="$missing $opt:man"
			grep -qE -- "(^|[^a-z-])--$name([^a-z-]|\$)" "$bash_comp" ||
				missing="$missing $opt:bash"
			grep -qE -- "(^|[^a-z-])--$name([^a-z-]|\$)" "$zsh_comp" ||
				missing="$missing $opt:zsh"
			grep -qE -- "-l $name( |\$)" "$fish_comp" ||
				missing="$missing $opt:fish"
			;;
		-?)
			name=${opt#-}
			grep -qE "Fl $name( |\$)" "$page" ||
				missing="$missing $opt:man"
			grep -qE -- "(^|[^a-zA-Z-])-$name( |\\)|\$)" "$bash_comp" ||
				missing="$missing $opt:bash"
			grep -qE -- "[{(' ]-$name[+,)]" "$zsh_comp" ||
				missing="$missing $opt:zsh"
			grep -qE -- "-s $name( |\$)" "$fish_comp" ||
				missing="$missing $opt:fish"
			;;
		*)
			grep -qE "Cm $opt( |\$)" "$page" ||
				missing="$missing $opt:man"
			grep -qwF -- "$opt" "$bash_comp" ||
				missing="$missing $opt:bash"
			grep -qE -- "'$opt:" "$zsh_comp" ||
				missing="$missing $opt:zsh"
			grep -qE -- "-a $opt( |\$)" "$fish_comp" ||
				missing="$missing $opt:fish"
			;;
		esac
	done
	if [ -n "$missing" ]; then
		echo "$bin: not documented or completed:$missing"
		return 1
	fi
}

@test "filmeto-submit options are documented and completed" {
	check_opts filmeto-submit \
		-t --tool -P --plugin -p --param -r --resource --resource-base64 \
		-i --id --depends --timeout --preset --list-presets --storyboard \
		--size --fps --json --each --dry-run --queue --cancel -h --help --version
}

@test "filmeto-run options are documented and completed" {
	check_opts filmeto-run --jobs -j --output-dir -d -o --output --placeholder --limit \
		--queue-timeout --heartbeat --grace --no-cache --spool --drain --prune --max-claims \
		--executor --shared-dir --sbatch-arg --slurm-poll --upload --url-ttl -h --help --version
}

@test "filmeto-watch options are documented and completed" {
	check_opts filmeto-watch -q --quiet -v --verbose --allow-empty --color --summary-json \
		--junit -f --follow --all --list --state --json --status -h --help --version
}

@test "filmeto-plugin commands and options are documented and completed" {
	check_opts filmeto-plugin list info tools validate path install remove \
		new test doctor config --json --names --force --lang --dir -h --help --version
}

@test "filmeto-serve options are documented and completed" {
	check_opts filmeto-serve -l --listen --spool -w --workers --key-file --cors --upload --url-ttl -h --help --version
}

@test "bash completion is found under every command name" {
	local c
	for c in filmeto-submit filmeto-run filmeto-watch filmeto-plugin filmeto-serve; do
		[ -e "$root/completions/bash/$c" ]
		grep -q "complete -F _filmeto_[a-z]* $c\$" \
			"$root/completions/bash/$c"
	done
}

@test "completion files parse" {
	bash -n "$bash_comp"
	if command -v zsh >/dev/null; then zsh -n "$zsh_comp"; fi
	if command -v fish >/dev/null; then
		local f
		for f in "$root"/completions/fish/*.fish; do
			fish -n "$f"
		done
	fi
}

# complete WORD... - run the bash completion for the command line WORD...
# (the last word is the one being completed) and print COMPREPLY.
complete_bash() {
	bash -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		"_${1//-/_}"
		printf "%s\n" "${COMPREPLY[@]}"' sh "$bash_comp" "$@"
}

@test "bash completion completes options, tools, commands and plugins" {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '%s\n' '#!/bin/sh' \
		'[ "$*" = "list --names" ] || exit 2' \
		'printf "%s\n" titlecard tiny "Spaced Server"' \
		>"$BATS_TEST_TMPDIR/bin/filmeto-plugin"
	chmod +x "$BATS_TEST_TMPDIR/bin/filmeto-plugin"
	PATH=$BATS_TEST_TMPDIR/bin:$PATH

	run complete_bash filmeto-submit --ti
	[ "$status" -eq 0 ]
	[ "$output" = "--timeout" ]
	run complete_bash filmeto-submit -t te
	[ "${lines[*]}" = "text2text text2image text2video text2speak text2music" ]
	run complete_bash filmeto-submit --tool = image2
	[ "${lines[*]}" = "image2image image2video" ]
	run complete_bash filmeto-submit -P t
	[ "${lines[*]}" = "titlecard tiny" ]
	run complete_bash filmeto-plugin ''
	[ "${lines[*]}" = "list info tools validate path install remove new test doctor config" ]
	run complete_bash filmeto-plugin remove ''
	[ "${lines[*]}" = 'titlecard tiny Spaced\ Server' ]
	run complete_bash filmeto-plugin install --f
	[ "$output" = "--force" ]
	run complete_bash filmeto-plugin new x --lang ''
	[ "${lines[*]}" = "c python sh" ]
	run complete_bash filmeto-plugin new x --
	[ "${lines[*]}" = "--lang --dir" ]
	run complete_bash filmeto-plugin tools -
	[ "$output" = "--json" ]
	run complete_bash filmeto-plugin info ''
	[ "${lines[*]}" = 'titlecard tiny Spaced\ Server' ]
	run complete_bash filmeto-plugin list -
	[ "${lines[*]}" = "--json --names" ]
	# A name with a space completes as one word, escaped or inside its quote.
	run complete_bash filmeto-submit -P Sp
	[ "$output" = 'Spaced\ Server' ]
	run complete_bash filmeto-plugin info 'Spaced\ S'
	[ "$output" = 'Spaced\ Server' ]
	run complete_bash filmeto-plugin info '"Sp'
	[ "$output" = '"Spaced Server"' ]
	run complete_bash filmeto-submit --plugin = Sp
	[ "$output" = 'Spaced\ Server' ]
	run complete_bash filmeto-run --output-
	[ "$output" = "--output-dir" ]
	run complete_bash filmeto-run --pl
	[ "$output" = "--placeholder" ]
	run complete_bash filmeto-run --q
	[ "$output" = "--queue-timeout" ]
	run complete_bash filmeto-run --no
	[ "$output" = "--no-cache" ]
	run complete_bash filmeto-run -j ''
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run complete_bash filmeto-run -O
	[ -z "$output" ]
	run complete_bash filmeto-run --sp
	[ "$output" = "--spool" ]
	run complete_bash filmeto-run --dr
	[ "$output" = "--drain" ]
	run complete_bash filmeto-run --prune ''
	[ "${lines[*]}" = "12h 7d 2w" ]
	run complete_bash filmeto-run --max
	[ "$output" = "--max-claims" ]
	run complete_bash filmeto-run --exe
	[ "$output" = "--executor" ]
	run complete_bash filmeto-run --executor = ''
	[ "${lines[*]}" = "local slurm" ]
	run complete_bash filmeto-run --executor=s
	[ "$output" = "--executor=slurm" ]
	run complete_bash filmeto-run --sh
	[ "$output" = "--shared-dir" ]
	run complete_bash filmeto-run --sb
	[ "$output" = "--sbatch-arg" ]
	run complete_bash filmeto-run --sbatch-arg ''
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run complete_bash filmeto-run --slurm-poll ''
	[ -z "$output" ]
	run complete_bash filmeto-submit --qu
	[ "$output" = "--queue" ]
	run complete_bash filmeto-watch --
	[ "${lines[*]}" = "--quiet --verbose --allow-empty --color --summary-json --junit --follow --all --list --state --json --status --help --version" ]
	run complete_bash filmeto-watch --color = ''
	[ "${lines[*]}" = "auto always never" ]
	run complete_bash filmeto-serve --
	[ "${lines[*]}" = "--listen --spool --workers --key-file --cors --upload --url-ttl --help --version" ]
	run complete_bash filmeto-serve --w
	[ "$output" = "--workers" ]
}

@test "bash completion completes --cancel with the ids of queued tasks" {
	export FILMETO_SPOOL=$BATS_TEST_TMPDIR/spool
	mkdir -p "$FILMETO_SPOOL/queue"
	touch "$FILMETO_SPOOL/queue/18ea054c16aceb22.scene1" \
		"$FILMETO_SPOOL/queue/18ea054c16aceb23.scene2.v2" \
		"$FILMETO_SPOOL/queue/18ea054c16aceb24.title"
	run complete_bash filmeto-submit --cancel sc
	[ "${lines[*]}" = "scene1 scene2.v2" ]
	run complete_bash filmeto-submit --cancel scene1 ''
	[ "${lines[*]}" = "scene1 scene2.v2 title" ]
	rm -r "$FILMETO_SPOOL"
	run complete_bash filmeto-submit --cancel ''
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# The SYNOPSIS of filmeto-submit(1) and filmeto-run(1), words and order,
# is the usage of their --help.
@test "the SYNOPSIS of submit, run and serve is the usage of --help" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local bin
	for bin in filmeto-submit filmeto-run filmeto-serve; do
		diff -u <("$ROOT_BIN/$bin" --help | sed -n '/^usage:/,/^$/p' |
			sed -e 's/^usage: //' -e 's/^ *//' | tr -s ' \n' '  ') \
			<(mandoc -T ascii -O width=200 "$man/man1/$bin.1" | col -bx |
				sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed -e '1d' -e '$d' -e 's/^ *//' |
				tr -s ' \n' '  ')
	done
}

@test "mandoc -T lint reports nothing for any man page" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local page out line xr bad=
	for page in "$man"/man[1-9]/*.[1-9]; do
		[ -f "$page" ] || continue
		out=$(mandoc -T lint "$page" 2>&1) || true
		while IFS= read -r line; do
			[ -n "$line" ] || continue
			# Cross-references depend on what this machine has
			# installed: accept those to our own pages.
			case $line in
			*"referenced manual not found: Xr "*)
				xr=${line##*Xr }
				xr=${xr% (*}
				[ -f "$man/man${xr#* }/${xr% *}.${xr#* }" ] &&
					continue
				;;
			*"outdated mandoc.db lacks"*)
				continue
				;;
			esac
			bad="$bad$line"$'\n'
		done <<<"$out"
	done
	if [ -n "$bad" ]; then
		printf '%s' "$bad"
		return 1
	fi
}
