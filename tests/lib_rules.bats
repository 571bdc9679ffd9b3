#!/usr/bin/env bats
# lib/ never prints and never exits (STYLE rules 3 and 13): it returns
# values and errors, and a command decides what to say and how to end.
# Only lib/msg.c, the commands' messaging module, writes to stdout or
# stderr and exits, and only fm_oom in lib/util.c, the one out-of-memory
# exit, aborts. The code is read with its comments and its string and
# character literals blanked, so a shell template's printf (lib/plugin_scaffold.c)
# or a format(printf, ...) attribute is not a call.

load test_helper

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# lib_calls FILE...: "FILE:LINE: text" for each call that prints or ends
# the process, and each use of stdout or stderr, outside lib/msg.c and
# fm_oom.
lib_calls() {
	awk '
	FNR == 1 { incomment = 0; func_ = "" }
	{
		out = ""; n = length($0); i = 1
		while (i <= n) {
			c = substr($0, i, 1)
			if (incomment) {
				if (substr($0, i, 2) == "*/") { incomment = 0; i += 2; out = out " " }
				else i++
				continue
			}
			if (substr($0, i, 2) == "/*") { incomment = 1; i += 2; continue }
			if (substr($0, i, 2) == "//") break
			if (c == "\"" || c == "\047") {
				for (i++; i <= n && substr($0, i, 1) != c; i++)
					if (substr($0, i, 1) == "\\") i++
				out = out c c; i++
				continue
			}
			out = out c; i++
		}
		# A function definition starts in the first column.
		if (out ~ /^[A-Za-z_].*\(/ && out !~ /;[ \t]*$/) func_ = out
		if (FILENAME ~ /(^|\/)msg\.c$/) next
		if (out !~ /(^|[^A-Za-z0-9_.>])(printf|vprintf|fprintf|vfprintf|puts|fputs|putchar|perror|exit|_exit|_Exit|quick_exit|abort)[ \t]*\(/ &&
		    out !~ /(^|[^A-Za-z0-9_.>])(stdout|stderr|STDOUT_FILENO|STDERR_FILENO)([^A-Za-z0-9_]|$)/ &&
		    out !~ /(^|[^A-Za-z0-9_.>])write[ \t]*\([ \t]*[12][ \t]*,/) next
		if (FILENAME ~ /(^|\/)util\.c$/ && func_ ~ /[^A-Za-z0-9_]fm_oom[ \t]*\(/) next
		line = $0; sub(/^[ \t]+/, "", line)
		print FILENAME ":" FNR ": " line
	}' "$@"
}

@test "lib/: no print and no exit outside lib/msg.c and fm_oom" {
	run lib_calls "$ROOT"/lib/*.c
	[ "$status" -eq 0 ]
	[ -z "$output" ] || {
		echo "$output"
		false
	}
}

@test "lib/: a print, an exit or an abort planted in a copy is found" {
	mkdir lib
	cp "$ROOT/lib/cache.c" "$ROOT/lib/util.c" "$ROOT/lib/msg.c" lib/
	printf 'static void planted(void)\n{\n\tfprintf(stderr, "x\\n");\n}\n' >>lib/cache.c
	printf 'void planted(void)\n{\n\tif (x) exit(1);\n\tabort();\n\t(void)!write(2, "x", 1);\n}\n' >>lib/util.c
	printf 'void planted(void)\n{\n\tfprintf(stderr, "x\\n");\n\texit(1);\n}\n' >>lib/msg.c
	printf 'static void later(FILE *f)\n{\n\tfputc(1, stdout);\n}\n' >>lib/cache.c
	run lib_calls lib/cache.c lib/util.c lib/msg.c
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[0]}" == lib/cache.c:*': fprintf(stderr, "x\n");' ]]
	[[ "${lines[1]}" == lib/cache.c:*': fputc(1, stdout);' ]]
	[[ "${lines[2]}" == lib/util.c:*': if (x) exit(1);' ]]
	[[ "${lines[3]}" == lib/util.c:*': abort();' ]]
	[[ "${lines[4]}" == lib/util.c:*': (void)!write(2, "x", 1);' ]]
}

@test "lib/: comments, strings and format attributes are not calls" {
	mkdir lib
	cat >lib/x.c <<'EOF'
/* printf("no");
 * exit(1); */
static const char sh[] = "\tprintf '%s\\n' \"$1\"; exit(1)\n";
static const char q = '"', *abort_text = "abort()";
int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int n = snprintf(buf, 8, "%d", 1) + dprintf(fd, "x") + atexit(f); // puts("no");
	s->exit(0);
	fm_error_detail(err, "stderr", tail);
EOF
	run lib_calls lib/x.c
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
