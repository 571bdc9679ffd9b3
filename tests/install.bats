#!/usr/bin/env bats
# make install: the tree it writes under DESTDIR works on its own.

load test_helper

setup() {
	common_setup
}

@test "make install DESTDIR=... PREFIX=... installs a working, relocatable tree" {
	make -s -C "$ROOT" install DESTDIR="$BATS_TEST_TMPDIR/dest" PREFIX=/opt/filmeto > /dev/null
	top="$BATS_TEST_TMPDIR/dest/opt/filmeto"
	for f in bin/filmeto-submit bin/filmeto-run bin/filmeto-watch bin/filmeto-plugin \
		bin/filmeto-serve share/man/man1/filmeto-serve.1 \
		share/bash-completion/completions/filmeto-serve \
		share/fish/vendor_completions.d/filmeto-serve.fish \
		lib/filmeto/plugins/titlecard/plugin.yaml lib/filmeto/plugins/titlecard/titlecard \
		share/man/man1/filmeto-run.1 share/man/man5/filmeto-plugin.yaml.5 \
		share/man/man7/filmeto.7 share/man/man7/filmeto-protocol.7 \
		share/bash-completion/completions/filmeto-submit share/zsh/site-functions/_filmeto \
		share/fish/vendor_completions.d/filmeto-run.fish \
		share/filmeto/examples/spool-cron share/filmeto/examples/spool-ci.yml \
		share/filmeto/examples/slurm/spool-farm share/filmeto/examples/slurm/config.yaml \
		share/filmeto/schemas/line.schema.json share/filmeto/schemas/storyboard.schema.json \
		share/filmeto/schemas/manifest.schema.json; do
		[ -e "$top/$f" ] || { echo "missing $f"; false; }
	done
	unset FILMETO_PLUGIN_PATH
	# The path names the prefix it runs from, not the one it was built for.
	run "$top/bin/filmeto-plugin" path
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[1]}" = "$top/lib/filmeto/plugins" ]
	run "$top/bin/filmeto-plugin" list
	[[ "$output" == *"titlecard 1.0.0 text2image $top/lib/filmeto/plugins/titlecard"* ]]
	"$top/bin/filmeto-submit" -t text2image -p prompt=installed -p width=64 -p height=64 -i i \
		| "$top/bin/filmeto-run" -d out | "$top/bin/filmeto-watch" > events
	[ -s out/i/card.png ]
	"$top/bin/filmeto-serve" --version
}

@test "a C plugin made by an installed filmeto-plugin builds with pkg-config filmeto and passes test" {
	make -s -C "$ROOT" install DESTDIR="$BATS_TEST_TMPDIR/dest" PREFIX=/opt/filmeto > /dev/null
	top="$BATS_TEST_TMPDIR/dest/opt/filmeto"
	for f in lib/libfilmeto.a lib/pkgconfig/filmeto.pc include/filmeto/filmeto.h \
		include/filmeto/plugin_sdk.h; do
		[ -e "$top/$f" ] || { echo "missing $f"; false; }
	done
	export PKG_CONFIG_PATH="$top/lib/pkgconfig"
	# The .pc file finds its prefix from where it is: DESTDIR needs no edit.
	[[ "$(pkg-config --cflags filmeto)" == *"-iquote $top/lib/pkgconfig/../../include/filmeto"* ]]
	"$top/bin/filmeto-plugin" new cplug --lang c
	grep -q '^FILMETO_ROOT ?=$' cplug/Makefile
	# new built it, with pkg-config filmeto.
	[ -x cplug/cplug ]
	run "$top/bin/filmeto-plugin" test "$BATS_TEST_TMPDIR/cplug"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok example text2text #1"* ]]
	# Without pkg-config's path, make says what to set.
	rm cplug/cplug
	PKG_CONFIG_PATH= run make -s -C cplug
	[ "$status" -ne 0 ]
	[[ "$output" == *"pkg-config finds no filmeto: set PKG_CONFIG_PATH"* ]]
}
